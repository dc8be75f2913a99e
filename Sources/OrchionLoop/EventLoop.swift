import CLibUV
import Synchronization

/// One libuv loop and the thread that runs it.
///
/// Threading: `execute`, `enqueue` and `stop` may be called from any thread;
/// everything else in OrchionLoop is called on the loop thread only. The loop
/// is also a `SerialExecutor`, so an actor whose `unownedExecutor` is this
/// loop runs on the loop thread and may use handles directly.
///
/// It is a `TaskExecutor` too: `Task(executorPreference: loop)` runs a
/// task's nonisolated code on the loop thread, with no thread hops.
///
/// Cross-thread wake-ups go through one `uv_async_t`. libuv coalesces
/// `uv_async_send` calls, so the callback drains the whole queue each time.
public final class EventLoop: SerialExecutor, TaskExecutor, @unchecked Sendable {
    /// The libuv loop. Use only on the loop thread.
    public let raw: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let soon: UnsafeMutablePointer<uv_idle_t>
    private var soonActive = false
    private let pending = Mutex<[Work]>([])
    private let owner = Atomic<UInt>(0)
    private let closed = Atomic<Bool>(false)

    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    /// Creates a loop. It does nothing until `run()` is called.
    public init() throws(LoopError) {
        Stream.ignoreBrokenPipes()
        raw = .allocate(capacity: 1)
        wakeup = .allocate(capacity: 1)
        soon = .allocate(capacity: 1)
        let status = uv_loop_init(raw)
        guard status == 0 else {
            raw.deallocate()
            wakeup.deallocate()
            soon.deallocate()
            throw LoopError(status, "uv_loop_init")
        }
        uv_idle_init(raw, soon)
        soon.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_async_init(raw, wakeup) { async in
            Unmanaged<EventLoop>.fromOpaque(async!.pointee.data).takeUnretainedValue().drain()
        }
        wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        raw.deallocate()
        wakeup.deallocate()
        soon.deallocate()
    }

    /// Whether the caller is on the thread running this loop.
    public var inLoopThread: Bool {
        owner.load(ordering: .acquiring) == UInt(bitPattern: Int(bitPattern: uv_thread_self()))
    }

    /// Runs the loop on the calling thread until `stop()` is called.
    public func run() {
        owner.store(UInt(bitPattern: Int(bitPattern: uv_thread_self())), ordering: .releasing)
        drain()
        uv_run(raw, UV_RUN_DEFAULT)
        owner.store(0, ordering: .releasing)
    }

    /// Asks the loop to return from `run()` after its current turn. Thread-safe.
    public func stop() {
        execute { uv_stop(self.raw) }
    }

    /// Runs `body` on the loop thread on a later turn. Thread-safe.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        schedule(.closure(body))
    }

    /// Runs `body` on the loop thread and returns its result.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            execute { continuation.resume(with: Result { try body() }) }
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        schedule(.job(UnownedJob(job)))
    }

    public func checkIsolated() {
        precondition(inLoopThread, "expected to run on the event loop thread")
    }

    /// Closes the loop after `run()` has returned.
    ///
    /// Lets pending close callbacks finish, then throws `EBUSY` with the kinds
    /// of handles still open if any remain (a leak the caller must fix).
    public func close() throws(LoopError) {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(soon).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_run(raw, UV_RUN_DEFAULT)
        let status = uv_loop_close(raw)
        if status != 0 {
            throw LoopError(status, "uv_loop_close with open handles: \(openHandleKinds().joined(separator: ", "))")
        }
    }

    /// The kinds of handles still open on this loop, e.g. ["tcp", "timer"],
    /// leaving out the loop's own wake-up handles.
    public func openHandleKinds() -> [String] {
        final class Walk {
            var kinds: [String] = []
            var own: Set<UnsafeMutableRawPointer> = []
        }
        let walk = Walk()
        walk.own = [UnsafeMutableRawPointer(wakeup), UnsafeMutableRawPointer(soon)]
        withExtendedLifetime(walk) {
            uv_walk(
                raw,
                { handle, arg in
                    let walk = Unmanaged<Walk>.fromOpaque(arg!).takeUnretainedValue()
                    guard let handle, !walk.own.contains(UnsafeMutableRawPointer(handle)) else { return }
                    walk.kinds.append(String(cString: uv_handle_type_name(uv_handle_get_type(handle))))
                }, Unmanaged.passUnretained(walk).toOpaque())
        }
        return walk.kinds
    }

    /// Queues work. From another thread, wakes the loop with `uv_async_send`
    /// (a syscall); from the loop thread itself, just makes sure the next loop
    /// iteration drains the queue (an idle handle keeps poll from blocking).
    private func schedule(_ work: Work) {
        precondition(!closed.load(ordering: .acquiring), "work scheduled on a closed event loop")
        pending.withLock { $0.append(work) }
        if inLoopThread {
            if !soonActive {
                soonActive = true
                uv_idle_start(soon) { idle in
                    let loop = Unmanaged<EventLoop>.fromOpaque(idle!.pointee.data).takeUnretainedValue()
                    loop.soonActive = false
                    uv_idle_stop(idle)
                    loop.drain()
                }
            }
        } else {
            uv_async_send(wakeup)
        }
    }

    private func drain() {
        while true {
            let batch = pending.withLock { queue -> [Work] in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            if batch.isEmpty { return }
            for work in batch {
                switch work {
                case .job(let job):
                    job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
                case .closure(let body): body()
                }
            }
        }
    }
}

extension EventLoop {
    /// Runs `body` on the loop thread and suspends until `body` calls the
    /// `finish` function it is given (later, from any loop callback).
    /// Throws what `body` throws; then `finish` must not be called.
    public func submitAsync<T: Sendable>(
        _ body: @escaping @Sendable (_ finish: @escaping (T) -> Void) throws -> Void
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            execute {
                do {
                    try body { continuation.resume(returning: $0) }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
