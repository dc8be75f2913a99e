import CLibUV

/// A libuv timer.
///
/// Threading: loop thread only, checked at every public entry point;
/// `@unchecked Sendable` is backed by that check (see `LoopHandle`).
public final class Timer: LoopHandle, @unchecked Sendable {
    private var callback: (() -> Void)?

    /// Creates a stopped timer.
    public init(loop: EventLoop) throws(LoopError) {
        try loop.checkOpen("create a Timer")
        super.init(loop: loop, type: UV_TIMER)
        try adopt(uv_timer_init(loop.raw, timer), "uv_timer_init")
    }

    private var timer: UnsafeMutablePointer<uv_timer_t> { raw.assumingMemoryBound(to: uv_timer_t.self) }

    /// Calls `callback` after `milliseconds`, then every `repeatMillis` if non-zero.
    public func start(after milliseconds: UInt64, repeat repeatMillis: UInt64 = 0, _ callback: @escaping () -> Void) {
        preconditionInLoopThread()
        self.callback = callback
        uv_timer_start(
            timer,
            { timer in
                LoopHandle.owner(of: timer, as: Timer.self).callback?()
            }, milliseconds, repeatMillis)
    }

    /// Stops the timer; it may be started again.
    public func stop() {
        preconditionInLoopThread()
        uv_timer_stop(timer)
    }

    /// Stops and closes the timer.
    public override func close(_ completion: (() -> Void)? = nil) {
        preconditionInLoopThread()
        callback = nil
        super.close(completion)
    }
}
