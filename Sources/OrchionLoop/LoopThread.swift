import CLibUV

/// A thread that runs one event loop until it is stopped.
///
/// Use it where the calling thread must stay free (tests, embedding); a
/// command-line program simply calls `EventLoop.run()` on its main thread.
public final class LoopThread: Sendable {
    /// The loop this thread runs.
    public let loop: EventLoop
    private let thread: uv_thread_t

    /// Creates a loop and starts a thread running it.
    public init() throws(LoopError) {
        loop = try EventLoop()
        var thread = uv_thread_t()
        let context = Unmanaged.passRetained(loop).toOpaque()
        let status = uv_thread_create(
            &thread,
            { arg in
                let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
                loop.run()
            }, context)
        if status != 0 {
            Unmanaged<EventLoop>.fromOpaque(context).release()
            throw LoopError(status, "uv_thread_create")
        }
        self.thread = thread
    }

    /// Stops the loop, waits for the thread, and closes the loop.
    /// Throws if handles were left open.
    public func shutdown() throws(LoopError) {
        loop.stop()
        var thread = self.thread
        uv_thread_join(&thread)
        try loop.close()
    }
}
