import CLibUV

/// Watches one POSIX signal on the loop (a second `start` moves the watch
/// to the new signal: use one watcher per signal).
///
/// Threading: loop thread only, checked at every public entry point;
/// `@unchecked Sendable` is backed by that check (see `LoopHandle`).
public final class SignalWatcher: LoopHandle, @unchecked Sendable {
    private var callback: ((Int32) -> Void)?

    /// Creates an idle watcher.
    public init(loop: EventLoop) throws(LoopError) {
        try loop.checkOpen("create a SignalWatcher")
        super.init(loop: loop, type: UV_SIGNAL)
        try adopt(uv_signal_init(loop.raw, signal), "uv_signal_init")
    }

    private var signal: UnsafeMutablePointer<uv_signal_t> { raw.assumingMemoryBound(to: uv_signal_t.self) }

    /// Calls `callback` with the signal number each time `signum` arrives.
    public func start(_ signum: Int32, _ callback: @escaping (Int32) -> Void) throws(LoopError) {
        preconditionInLoopThread()
        self.callback = callback
        try LoopError.check(
            uv_signal_start(
                signal,
                { signal, number in
                    LoopHandle.owner(of: signal, as: SignalWatcher.self).callback?(number)
                }, signum), "uv_signal_start(\(signum))")
    }

    /// Stops watching and closes the handle.
    public override func close(_ completion: (() -> Void)? = nil) {
        preconditionInLoopThread()
        callback = nil
        super.close(completion)
    }
}
