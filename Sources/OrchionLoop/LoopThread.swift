import CLibUV
import Glibc
import Synchronization

/// A thread that runs one event loop until it is stopped.
///
/// Use it where the calling thread must stay free (tests, embedding); a
/// command-line program simply calls `EventLoop.run()` on its main thread.
///
/// Threading: any thread. `init` returns once the new thread (named
/// "orchion-loop") owns the loop, so from then on the loop's thread checks
/// catch a handle used from the creating thread.
public final class LoopThread: Sendable {
    /// The loop this thread runs.
    public let loop: EventLoop
    private let thread: uv_thread_t
    private let joined = Atomic<Bool>(false)

    /// Creates a loop and starts a thread running it.
    public init() throws(LoopError) {
        loop = try EventLoop()
        let start = Start(loop: loop)
        var thread = uv_thread_t()
        let context = Unmanaged.passRetained(start).toOpaque()
        let status = uv_thread_create(
            &thread,
            { arg in
                guard let arg else { return }
                let start = Unmanaged<Start>.fromOpaque(arg).takeRetainedValue()
                nameCurrentThread("orchion-loop")
                start.loop.run { uv_sem_post(start.started) }
            }, context)
        if status != 0 {
            Unmanaged<Start>.fromOpaque(context).release()
            throw LoopError(status, "uv_thread_create")
        }
        uv_sem_wait(start.started)
        self.thread = thread
    }

    /// Stops the loop, waits for the thread, and closes the loop (which runs
    /// the work still queued first). Throws if handles were left open.
    /// Blocks: not for the loop thread itself. Calling it again does nothing.
    public func shutdown() throws(LoopError) {
        if loop.inLoopThread {
            throw LoopError(-EDEADLK, "LoopThread.shutdown called on its own loop thread")
        }
        guard !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loop.stop()
        var thread = self.thread
        uv_thread_join(&thread)
        try loop.close()
    }
}

/// What the new thread needs: the loop, and a semaphore to say it runs.
/// `@unchecked Sendable`: both are immutable and a semaphore is thread-safe.
private final class Start: @unchecked Sendable {
    let loop: EventLoop
    let started = UnsafeMutablePointer<uv_sem_t>.allocate(capacity: 1)

    init(loop: EventLoop) {
        self.loop = loop
        uv_sem_init(started, 0)
    }

    deinit {
        uv_sem_destroy(started)
        started.deallocate()
    }
}
