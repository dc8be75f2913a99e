import CLibUV

extension EventLoop {
    /// Runs `work` on libuv's thread pool, then `completion` with its result
    /// on the loop thread. Call on the loop thread.
    ///
    /// For anything that would block the loop: disk I/O, `dlopen` of large
    /// files, database commits. `work` must not touch loop-thread state.
    ///
    /// On a closed loop (called from a task resumed after shutdown, on the
    /// fallback thread that stands in for the loop thread) both run at once
    /// on the calling thread: there is no loop left to come back to.
    public func queueWork<T: Sendable>(_ work: @escaping @Sendable () -> T, then completion: @escaping (T) -> Void) {
        preconditionInLoopThread("EventLoop.queueWork(_:then:)")
        if isClosed { return completion(work()) }
        let job = PoolWork(work: work, completion: completion)
        let request = job.request
        request.pointee.data = Unmanaged<PoolWorkBase>.passRetained(job).toOpaque()
        let status = uv_queue_work(
            raw, request,
            { request in
                Unmanaged<PoolWorkBase>.fromOpaque(request!.pointee.data).takeUnretainedValue().run()
            },
            { request, _ in
                Unmanaged<PoolWorkBase>.fromOpaque(request!.pointee.data).takeRetainedValue().finish()
            })
        if status != 0 {
            // The pool refused the request (it never does for a valid one):
            // run it inline rather than lose it.
            Unmanaged<PoolWorkBase>.fromOpaque(request.pointee.data).release()
            job.run()
            job.finish()
        }
    }

    /// Runs `work` on libuv's thread pool and returns its result. Callable
    /// from any thread or task. Once the loop has closed, `work` runs on the
    /// calling thread instead (still off the loop, which is gone).
    public func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            execute(
                { self.queueWork(work) { continuation.resume(returning: $0) } },
                refused: { continuation.resume(returning: work()) })
        }
    }
}

/// One `uv_work_t`; retained from queueing until the after-work callback.
/// `@unchecked Sendable`: it crosses to a pool thread and back, and libuv
/// orders `run` (pool) before `finish` (loop), so they never overlap.
private class PoolWorkBase: @unchecked Sendable {
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)

    /// On a pool thread.
    func run() {}

    /// On the loop thread, after `run` (libuv orders the two).
    func finish() {}

    deinit { request.deallocate() }
}

private final class PoolWork<T: Sendable>: PoolWorkBase, @unchecked Sendable {
    private let work: @Sendable () -> T
    private let completion: (T) -> Void
    private var result: T?

    init(work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        self.work = work
        self.completion = completion
    }

    override func run() { result = work() }

    override func finish() { completion(result!) }
}
