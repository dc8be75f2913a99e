import CLibUV

extension EventLoop {
    /// Runs `work` on libuv's thread pool and returns its result on the loop.
    ///
    /// For anything that would block the loop: disk I/O, `dlopen` of large
    /// files, database commits. `work` must not touch loop-thread state.
    public func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            execute {
                let job = OffloadedWork(work: work, continuation: continuation)
                let request = job.request
                request.pointee.data = Unmanaged<PoolWork>.passRetained(job).toOpaque()
                let status = uv_queue_work(self.raw, request, { request in
                    Unmanaged<PoolWork>.fromOpaque(request!.pointee.data).takeUnretainedValue().run()
                }, { request, _ in
                    Unmanaged<PoolWork>.fromOpaque(request!.pointee.data).takeRetainedValue().finish()
                })
                if status != 0 {
                    // The pool refused the work (it never does for valid
                    // requests); run it inline rather than lose it.
                    Unmanaged<PoolWork>.fromOpaque(request.pointee.data).release()
                    job.run()
                    job.finish()
                }
            }
        }
    }
}

/// One `uv_work_t`; retained from queueing until the after-work callback.
private class PoolWork: @unchecked Sendable {
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)

    /// On a pool thread.
    func run() {}

    /// On the loop thread, after `run` (libuv orders the two).
    func finish() {}

    deinit { request.deallocate() }
}

private final class OffloadedWork<T: Sendable>: PoolWork, @unchecked Sendable {
    private let work: @Sendable () -> T
    private let continuation: CheckedContinuation<T, Never>
    private var result: T?

    init(work: @escaping @Sendable () -> T, continuation: CheckedContinuation<T, Never>) {
        self.work = work
        self.continuation = continuation
    }

    override func run() { result = work() }

    override func finish() { continuation.resume(returning: result!) }
}
