import CLibUV
import Glibc
import Synchronization

/// A dedicated thread that runs submitted blocks one at a time, in the order
/// they were submitted: the single writer behind a database's group commit.
///
/// Each time the thread wakes it takes everything queued as one batch and
/// runs the batch's blocks, in order, inside `batch` (for SQLite: BEGIN, the
/// blocks, COMMIT), so N submits that arrive while a commit is under way
/// cost one commit, not N. Only after `batch` has returned does any block of
/// the batch complete, so a caller's `await` returns once its write is
/// committed. If `batch` throws, every block of that batch fails with its
/// error (the transaction they shared did not commit).
///
/// Threading: `submit` from any thread or task; `submit(_:on:then:)` on that
/// loop's thread; `shutdown` from any thread but the worker's own. Blocks
/// and `batch` run on the worker thread only.
///
/// Shutdown runs everything already queued, then ends the thread; later
/// submits fail with `ECANCELED`. A worker must be shut down: its thread
/// keeps it alive until then.
public final class SerialWorker: Sendable {
    /// The thread's name (at most 15 bytes of it reach the kernel).
    public let name: String
    private let batch: @Sendable (_ count: Int, _ runAll: () -> Void) throws -> Void
    private let state = Mutex(State())
    private let signal: Semaphore
    private let thread = Mutex<uv_thread_t?>(nil)
    private let threadID = Atomic<UInt>(0)

    /// A submitted block: `run` in its batch, then `finish` with the batch's
    /// error (nil when the batch succeeded: the block's own result counts).
    private struct Item: Sendable {
        let run: @Sendable () -> Void
        let finish: @Sendable (_ batchError: (any Error)?) -> Void
    }

    private struct State {
        var queue: [Item] = []
        var signalled = false
        var closing = false
        var finished = false
    }

    /// Starts the thread. `batch` is called on it once per wake-up with the
    /// number of blocks taken and a function that runs them in order; it must
    /// call that function exactly once (a batch it skips fails). The default
    /// just runs them.
    public init(
        name: String,
        batch: @escaping @Sendable (_ count: Int, _ runAll: () -> Void) throws -> Void = { _, runAll in runAll() }
    ) throws(LoopError) {
        self.name = name
        self.batch = batch
        signal = Semaphore()
        var thread = uv_thread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = uv_thread_create(
            &thread,
            { arg in
                guard let arg else { return }
                Unmanaged<SerialWorker>.fromOpaque(arg).takeRetainedValue().main()
            }, context)
        if status != 0 {
            Unmanaged<SerialWorker>.fromOpaque(context).release()
            throw LoopError(status, "start SerialWorker '\(name)'")
        }
        self.thread.withLock { $0 = thread }
    }

    /// Blocks submitted and not yet taken by the thread (a backlog gauge).
    public var backlog: Int { state.withLock { $0.queue.count } }

    /// Whether `shutdown` has been called.
    var isShuttingDown: Bool { state.withLock { $0.closing } }

    /// Runs `body` on the worker thread after everything submitted before
    /// it, and returns its result once its batch has finished. Throws what
    /// `body` throws, the batch's error, or `ECANCELED` after `shutdown`.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let box = ResultBox<T>()
            let accepted = enqueue(
                Item(
                    run: { box.store(Result { try body() }) },
                    finish: { batchError in continuation.resume(with: box.take(batchError)) }))
            if !accepted {
                continuation.resume(throwing: LoopError.closed("submit to SerialWorker '\(name)' after shutdown"))
            }
        }
    }

    /// Like `submit`, but calls `completion` on `loop`'s thread instead of
    /// resuming a task. Call on the loop thread. The completion is dropped
    /// if the loop has closed by then (there is no loop thread to run it on).
    public func submit<T: Sendable>(
        _ body: @escaping @Sendable () throws -> T, on loop: EventLoop,
        then completion: @escaping (Result<T, any Error>) -> Void
    ) {
        loop.preconditionInLoopThread("SerialWorker.submit(_:on:then:)")
        let callback = LoopBound(completion, loop: loop)
        let box = ResultBox<T>()
        let accepted = enqueue(
            Item(
                run: { box.store(Result { try body() }) },
                finish: { batchError in
                    let outcome = box.take(batchError)
                    loop.execute { callback.wrapped(outcome) }
                }))
        if !accepted {
            let error = LoopError.closed("submit to SerialWorker '\(name)' after shutdown")
            loop.execute { callback.wrapped(.failure(error)) }
        }
    }

    /// Runs what is queued, then stops the thread and waits for it. Calling
    /// it again does nothing. Throws `EDEADLK` on the worker thread itself.
    public func shutdown() throws(LoopError) {
        if threadID.load(ordering: .acquiring) == currentThreadID() {
            throw LoopError(-EDEADLK, "SerialWorker '\(name)'.shutdown called on its own thread")
        }
        let wake = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            state.closing = true
            defer { state.signalled = true }
            return !state.signalled
        }
        if wake { signal.post() }
        guard
            var thread = self.thread.withLock({ thread -> uv_thread_t? in
                defer { thread = nil }
                return thread
            })
        else { return }
        uv_thread_join(&thread)
    }

    /// Queues a block; false after shutdown.
    private func enqueue(_ item: Item) -> Bool {
        let outcome = state.withLock { state -> (accepted: Bool, wake: Bool) in
            guard !state.closing else { return (false, false) }
            state.queue.append(item)
            defer { state.signalled = true }
            return (true, !state.signalled)
        }
        if outcome.wake { signal.post() }
        return outcome.accepted
    }

    private func main() {
        threadID.store(currentThreadID(), ordering: .releasing)
        nameCurrentThread(name)
        while true {
            signal.wait()
            while true {
                let (items, closing) = state.withLock { state in
                    defer {
                        state.queue.removeAll()
                        state.signalled = false
                    }
                    return (state.queue, state.closing)
                }
                if items.isEmpty {
                    if closing { return }
                    break
                }
                run(items)
            }
        }
    }

    private func run(_ items: [Item]) {
        var ran = false
        var batchError: (any Error)?
        do {
            try batch(items.count) {
                guard !ran else { return }
                ran = true
                for item in items { item.run() }
            }
        } catch {
            batchError = error
        }
        if !ran && batchError == nil {
            // `batch` never ran them: fail them rather than strand their callers.
            batchError = LoopError(
                Int32(UV_ECANCELED.rawValue), "SerialWorker '\(name)': the batch function did not run the batch")
        }
        for item in items { item.finish(batchError) }
    }
}

/// One block's result, written on the worker thread and read after its batch.
private final class ResultBox<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)

    func store(_ result: Result<T, any Error>) { value.withLock { $0 = result } }

    /// The batch's error if any, else the stored result.
    func take(_ batchError: (any Error)?) -> Result<T, any Error> {
        if let batchError { return .failure(batchError) }
        return value.withLock { $0 }
            ?? .failure(LoopError(Int32(UV_ECANCELED.rawValue), "SerialWorker block did not run"))
    }
}

/// A counting semaphore (libuv's), for the worker's wake-ups.
/// `@unchecked Sendable`: a semaphore is made to be shared between threads.
private final class Semaphore: @unchecked Sendable {
    private let sem = UnsafeMutablePointer<uv_sem_t>.allocate(capacity: 1)

    init() { uv_sem_init(sem, 0) }

    func post() { uv_sem_post(sem) }

    func wait() { uv_sem_wait(sem) }

    deinit {
        uv_sem_destroy(sem)
        sem.deallocate()
    }
}
