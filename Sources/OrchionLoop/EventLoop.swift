import CLibUV
import Glibc
import Synchronization

/// One libuv loop and the thread that runs it.
///
/// Threading: `execute`, `submit`, `enqueue`, `stop` and `inLoopThread` may
/// be called from any thread; everything else in OrchionLoop is called on the
/// loop thread only, and handles check that at their public entry points
/// (`preconditionInLoopThread`). The loop is also a `SerialExecutor`, so an
/// actor whose `unownedExecutor` is this loop runs on the loop thread and may
/// use handles directly.
///
/// It is a `TaskExecutor` too: `Task(executorPreference: loop)` runs a
/// task's nonisolated code on the loop thread, with no thread hops.
///
/// Which thread is "the loop thread": the thread inside `run()`, and while
/// `close()` finishes queued work, the thread calling `close()`. Before
/// `run()` has started (and between `run()` returning and `close()`) the loop
/// has no thread and the check passes: nothing runs the loop then, so the one
/// thread setting it up may create handles; it must not share the unstarted
/// loop with other threads. `LoopThread` returns only once its thread runs.
///
/// Shutdown: `stop()` makes `run()` return; `close()` then runs everything
/// still queued, waits for thread-pool work and file requests in flight, and
/// closes the loop. After that, closures passed to `execute` are refused
/// (`execute` returns false, `submit` throws `ECANCELED`), `offload` runs its
/// work on the calling thread, and task jobs enqueued on the closed loop (a
/// task resumed after shutdown) run, one at a time, on a short-lived fallback
/// thread that stands in for the loop thread, so no task is stranded.
///
/// Cross-thread wake-ups go through one `uv_async_t`. libuv coalesces
/// `uv_async_send` calls, so the callback drains the whole queue each time.
///
/// `@unchecked Sendable`: the queue, state and owner are behind a mutex or
/// atomics; `raw` and `soonActive` are loop-thread state, which the loop's
/// own thread check guards like any handle's.
public final class EventLoop: SerialExecutor, TaskExecutor, @unchecked Sendable {
    /// The libuv loop. Use only on the loop thread.
    public let raw: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let soon: UnsafeMutablePointer<uv_idle_t>
    /// Loop thread only.
    private var soonActive = false
    private let queue = Mutex(Queue())
    private let owner = Atomic<UInt>(0)
    private let ownerName = Mutex("no thread")
    private let running = Atomic<Bool>(false)

    private enum Work {
        case job(UnownedJob)
        /// `refused` runs instead of `body` when the loop has closed.
        case closure(@Sendable () -> Void, refused: (@Sendable () -> Void)?)
    }

    private enum State {
        case open
        /// `close()` is running queued work.
        case closing
        /// `close()` is closing libuv's loop: no more work is accepted, task
        /// jobs wait for the fallback thread, which starts once it is done.
        case finishing
        case closed
    }

    private struct Queue {
        var work: [Work] = []
        var state = State.open
        /// Task jobs enqueued after close, for the fallback thread.
        var orphans: [UnownedJob] = []
        var fallbackRunning = false
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
            guard let async else { return }
            Unmanaged<EventLoop>.fromOpaque(async.pointee.data).takeUnretainedValue().drain()
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
        owner.load(ordering: .acquiring) == currentThreadID()
    }

    /// Whether some thread owns the loop now (runs it, closes it, or stands
    /// in for it after close).
    var hasThread: Bool { owner.load(ordering: .acquiring) != 0 }

    /// Whether a thread is inside `run()`.
    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Whether the loop has closed (or `close()` has finished running queued
    /// work and is closing libuv's loop): it accepts no more work.
    public var isClosed: Bool {
        queue.withLock { $0.state == .closed || $0.state == .finishing }
    }

    /// Traps, with a message naming `what`, the calling thread and the loop's
    /// thread, unless the caller is on the loop thread or the loop has no
    /// thread yet (see the type's comment). Loop-only API calls it at every
    /// public entry point, in every build: the check is one atomic load and a
    /// `pthread_self` compare (a few nanoseconds; see docs/architecture.md).
    @inline(__always)
    public func preconditionInLoopThread(
        _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        let owner = owner.load(ordering: .acquiring)
        if owner != 0 && owner != currentThreadID() {
            wrongThread(what(), file: file, line: line)
        }
    }

    @inline(never)
    private func wrongThread(_ what: String, file: StaticString, line: UInt) -> Never {
        let message =
            "OrchionLoop: \(what) called on \(describeCurrentThread()), but its event loop runs on "
            + "\(ownerName.withLock { $0 }); loop-only API must be used on the loop thread "
            + "(reach it with loop.execute, loop.submit or a task on the loop)"
        fatalError(message, file: file, line: line)
    }

    /// Throws `ECANCELED` naming `operation` when the loop has closed (a task
    /// resumed after shutdown trying to create a handle).
    public func checkOpen(_ operation: @autoclosure () -> String) throws(LoopError) {
        if isClosed { throw LoopError.closed(operation()) }
    }

    private func claim() {
        ownerName.withLock { $0 = describeCurrentThread() }
        owner.store(currentThreadID(), ordering: .releasing)
    }

    private func release() {
        owner.store(0, ordering: .releasing)
        ownerName.withLock { $0 = "no thread" }
    }

    /// Runs the loop on the calling thread until `stop()` is called. Does
    /// nothing on a closed loop. Traps when the loop already runs elsewhere.
    public func run() {
        run(started: {})
    }

    /// Like `run()`; `started` runs on the loop thread once it owns the loop.
    func run(started: () -> Void) {
        guard !isClosed else { return started() }
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else {
            fatalError(
                "OrchionLoop: run() called on \(describeCurrentThread()) while the loop runs on "
                    + ownerName.withLock { $0 })
        }
        claim()
        started()
        drain()
        uv_run(raw, UV_RUN_DEFAULT)
        release()
        running.store(false, ordering: .releasing)
    }

    /// Asks the loop to return from `run()` after its current turn. Thread-safe.
    public func stop() {
        execute { uv_stop(self.raw) }
    }

    /// Runs `body` on the loop thread on a later turn. Thread-safe.
    ///
    /// Returns false, and drops `body` without running it, when the loop has
    /// closed; work that must not be lost uses `submit`, which throws then.
    @discardableResult
    public func execute(_ body: @escaping @Sendable () -> Void) -> Bool {
        schedule(.closure(body, refused: nil))
    }

    /// Runs `body` on the loop thread and returns its result. Throws
    /// `ECANCELED` when the loop has closed before `body` could run.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            schedule(
                .closure(
                    { continuation.resume(with: Result { try body() }) },
                    refused: { continuation.resume(throwing: LoopError.closed("submit")) }))
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        schedule(.job(UnownedJob(job)))
    }

    public func checkIsolated() {
        if !inLoopThread { wrongThread("code isolated to the event loop", file: #fileID, line: #line) }
    }

    /// Closes the loop after `run()` has returned, on the calling thread.
    ///
    /// Runs the work still queued (and what it queues), waits for thread-pool
    /// work and file requests in flight and for pending close callbacks, then
    /// throws `EBUSY` with the kinds of handles still open if any remain (a
    /// leak the caller must fix). Throws `EBUSY` without closing when the
    /// loop is still running. Calling it again does nothing.
    public func close() throws(LoopError) {
        if running.load(ordering: .acquiring) {
            throw LoopError(
                Int32(UV_EBUSY.rawValue), "close the event loop while it runs on \(ownerName.withLock { $0 })")
        }
        let first = queue.withLock { queue in
            guard queue.state == .open else { return false }
            queue.state = .closing
            return true
        }
        guard first else { return }
        claim()
        while true {
            drain()
            let quiet = queue.withLock { queue in
                guard queue.work.isEmpty, raw.pointee.active_reqs.count == 0, raw.pointee.closing_handles == nil
                else { return false }
                queue.state = .finishing
                return true
            }
            if quiet { break }
            uv_run(raw, UV_RUN_ONCE)
        }
        uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(soon).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_run(raw, UV_RUN_NOWAIT)
        let status = uv_loop_close(raw)
        // Released under the lock, before any fallback thread can claim it.
        let startFallback = queue.withLock { queue -> Bool in
            release()
            queue.state = .closed
            guard !queue.orphans.isEmpty, !queue.fallbackRunning else { return false }
            queue.fallbackRunning = true
            return true
        }
        if startFallback { startFallbackThread() }
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
                    guard let arg, let handle else { return }
                    let walk = Unmanaged<Walk>.fromOpaque(arg).takeUnretainedValue()
                    guard !walk.own.contains(UnsafeMutableRawPointer(handle)) else { return }
                    walk.kinds.append(String(cString: uv_handle_type_name(uv_handle_get_type(handle))))
                }, Unmanaged.passUnretained(walk).toOpaque())
        }
        return walk.kinds
    }

    /// Queues work and returns true. From another thread, wakes the loop with
    /// `uv_async_send` (a syscall); from the loop thread itself, just makes
    /// sure the next loop iteration drains the queue (an idle handle keeps
    /// poll from blocking). On a closed loop, refuses closures (returns false
    /// after running their `refused` handler) and hands task jobs to the
    /// fallback thread.
    @discardableResult
    private func schedule(_ work: Work) -> Bool {
        let onLoop = inLoopThread
        enum Outcome {
            case queued, refused
            case orphaned(startFallback: Bool)
        }
        let outcome = queue.withLock { queue -> Outcome in
            switch (queue.state, work) {
            case (.finishing, .job(let job)):
                queue.orphans.append(job)
                return .orphaned(startFallback: false)
            case (.closed, .job(let job)):
                queue.orphans.append(job)
                defer { queue.fallbackRunning = true }
                return .orphaned(startFallback: !queue.fallbackRunning)
            case (.closed, .closure), (.finishing, .closure):
                return .refused
            case (.open, _), (.closing, _):
                queue.work.append(work)
                // Sent under the lock so close() cannot close the async handle
                // between the state check and the send.
                if !onLoop { uv_async_send(wakeup) }
                return .queued
            }
        }
        switch outcome {
        case .queued:
            if onLoop && !soonActive {
                soonActive = true
                uv_idle_start(soon) { idle in
                    guard let idle else { return }
                    let loop = Unmanaged<EventLoop>.fromOpaque(idle.pointee.data).takeUnretainedValue()
                    loop.soonActive = false
                    uv_idle_stop(idle)
                    loop.drain()
                }
            }
            return true
        case .refused:
            if case .closure(_, let refused) = work { refused?() }
            return false
        case .orphaned(let startFallback):
            if startFallback { startFallbackThread() }
            return true
        }
    }

    private func drain() {
        while true {
            let batch = queue.withLock { queue -> [Work] in
                defer { queue.work.removeAll(keepingCapacity: true) }
                return queue.work
            }
            if batch.isEmpty { return }
            for work in batch {
                switch work {
                case .job(let job):
                    job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
                case .closure(let body, _): body()
                }
            }
        }
    }

    /// Starts a detached thread that runs orphaned task jobs one at a time,
    /// owning the (closed) loop meanwhile so loop-bound values stay usable.
    private func startFallbackThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { arg in
                guard let arg else { return nil }
                Unmanaged<EventLoop>.fromOpaque(arg).takeRetainedValue().runOrphans()
                return nil
            }, context)
        if status == 0 {
            pthread_detach(thread)
        } else {
            // No thread to be had: run them here rather than strand them.
            Unmanaged<EventLoop>.fromOpaque(context).takeRetainedValue().runOrphans()
        }
    }

    private func runOrphans() {
        claim()
        while true {
            let jobs = queue.withLock { queue -> [UnownedJob] in
                if queue.orphans.isEmpty {
                    // Released under the lock: a fallback thread started
                    // after this one stops must find its own claim intact.
                    release()
                    queue.fallbackRunning = false
                    return []
                }
                defer { queue.orphans.removeAll() }
                return queue.orphans
            }
            if jobs.isEmpty { return }
            for job in jobs {
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            }
        }
    }
}

extension EventLoop {
    /// Runs `body` on the loop thread and suspends until `body` calls the
    /// `finish` function it is given (later, from any loop callback).
    /// Throws what `body` throws; then `finish` must not be called. Throws
    /// `ECANCELED` when the loop has closed before `body` could run.
    public func submitAsync<T: Sendable>(
        _ body: @escaping @Sendable (_ finish: @escaping (T) -> Void) throws -> Void
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            schedule(
                .closure(
                    {
                        do {
                            try body { continuation.resume(returning: $0) }
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }, refused: { continuation.resume(throwing: LoopError.closed("submitAsync")) }))
        }
    }

    /// Schedules `body`, or runs `refused` on the calling thread when the
    /// loop has closed.
    func execute(_ body: @escaping @Sendable () -> Void, refused: @escaping @Sendable () -> Void) {
        schedule(.closure(body, refused: refused))
    }
}

extension LoopError {
    /// `ECANCELED` for `operation` refused by a closed loop.
    static func closed(_ operation: String) -> LoopError {
        LoopError(Int32(UV_ECANCELED.rawValue), "\(operation): the event loop is closed")
    }
}

/// The calling thread's `pthread_t`, as the loop records its owner.
@inline(__always)
func currentThreadID() -> UInt {
    UInt(bitPattern: Int(bitPattern: uv_thread_self()))
}

/// "thread 1234 'orchion-loop'": the kernel thread id and the thread's name,
/// read from procfs (no disk I/O). For diagnostics and the owner's record.
func describeCurrentThread() -> String {
    var link = [CChar](repeating: 0, count: 64)
    let length = readlink("/proc/thread-self", &link, link.count - 1)
    guard length > 0 else { return "thread \(currentThreadID())" }
    let target = String(decoding: link.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let tid = target.split(separator: "/").last.map(String.init) ?? "?"
    var name = "?"
    let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = Glibc.read(fd, &bytes, bytes.count)
        Glibc.close(fd)
        if count > 0 {
            name = String(decoding: bytes.prefix(count).filter { $0 != 10 }, as: UTF8.self)
        }
    }
    return "thread \(tid) '\(name)'"
}

/// Names the calling thread (at most 15 bytes reach the kernel).
func nameCurrentThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    Glibc.close(fd)
}
