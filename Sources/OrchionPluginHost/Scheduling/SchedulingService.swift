import OrchionCore
import OrchionLoop
import Synchronization

/// Scheduling off the I/O loop.
///
/// Owns a `SchedulerThread` and, confined to it, the cluster view and the
/// guarded strategy. Scheduler plugins are created (`init`), called
/// (`place`) and destroyed on that thread only, so plugin code never runs on
/// the I/O loop thread and a slow `place` delays only the scheduling queued
/// behind it — heartbeats and the API go on. Node updates are queued in
/// order with the batches, so each batch sees every update sent before it.
/// Every call is timed; a plugin that exceeds `budget` (or fails
/// `failureLimit` rounds in a row) is quarantined with the reason and the
/// built-in bin-packing strategy takes over (see `GuardedScheduler`).
///
/// A `place` that does not return within `hangLimit` cannot be interrupted,
/// so its thread is abandoned: `checkForHang()` (called by every `schedule`,
/// and by any watchdog) starts a new scheduler thread with the built-in
/// strategy and a view rebuilt from the updates it was sent, moves the work
/// queued behind the hung call to it — the hung batch first — and reports the
/// plugin quarantined. Whatever the hung call answers, if it ever returns,
/// is dropped.
///
/// Threading: every method may be called from any thread, the loop thread
/// included; none of them blocks except `shutdown`. Completions passed a loop
/// run on that loop's thread.
public final class SchedulingService: Sendable {
    /// The longest one `place` call may take before its plugin is quarantined.
    public let budget: Duration
    /// How long a `place` may run without returning before its thread is abandoned.
    public let hangLimit: Duration
    /// Consecutive bad rounds that quarantine a plugin.
    public let failureLimit: Int
    private let state: Mutex<State>

    private struct State {
        var generation: Generation
        /// Every node update sent, for rebuilding a view after a hang.
        var nodes = NodeMirror()
        /// Why the plugin was abandoned, until another is installed.
        var abandoned: String?
    }

    /// One scheduler thread and what only it touches.
    private final class Generation: @unchecked Sendable {
        let thread: SchedulerThread
        let view = ClusterView()
        var guarded: GuardedScheduler
        /// When the `place` call in progress started (CLOCK_MONOTONIC ns), or 0.
        let busySince = Atomic<UInt64>(0)
        /// The strategy of the call in progress, readable from any thread.
        let placing = Mutex("")
        /// The batch being placed: whoever takes it (its thread when the call
        /// returns, or `checkForHang`) answers it.
        let inFlight = Mutex<Request?>(nil)

        init(_ guarded: GuardedScheduler) throws(SchedulerThreadError) {
            thread = try SchedulerThread()
            self.guarded = guarded
        }
    }

    /// A batch to place and where its result goes.
    private struct Request: Sendable {
        let jobs: [PendingJob]
        let deliver: @Sendable (ScheduleResult) -> Void
    }

    /// Starts the scheduler thread with the built-in bin-packing strategy.
    public init(
        budget: Duration = .seconds(1), hangLimit: Duration = .seconds(10), failureLimit: Int = 3
    ) throws(SchedulerThreadError) {
        self.budget = budget
        self.hangLimit = hangLimit
        self.failureLimit = failureLimit
        let generation = try Generation(
            GuardedScheduler(BuiltinScheduler(.binPacking), failureLimit: failureLimit, budget: budget))
        state = Mutex(State(generation: generation))
    }

    deinit { shutdown() }

    /// Replaces the strategy with a new instance of `library`, initialised on
    /// the scheduler thread after the work queued before it. The old
    /// instance is destroyed there too. `sink` runs on the scheduler thread.
    public func use(
        _ library: PluginLibrary, instance: String? = nil, config: [String: String] = [:],
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }
    ) async throws(PluginError) {
        let outcome: Result<Void, PluginError>? = await onThread { [self] generation in
            do throws(PluginError) {
                let plugin = try SchedulerPlugin(library, instance: instance, config: config, sink: sink)
                generation.guarded = GuardedScheduler(plugin, failureLimit: failureLimit, budget: budget)
                state.withLock { $0.abandoned = nil }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        guard let outcome else {
            throw .callFailed(
                name: library.info.name, function: "init", status: -1,
                message: "the scheduling service has been shut down")
        }
        try outcome.get()
    }

    /// Adds or replaces `node` in the view, before any batch queued after this
    /// call, once it passes `Node.validate()`.
    public func upsert(_ node: Node) throws(NodeError) {
        try node.validate()
        state.withLock { state in
            state.nodes.upsert(node)
            submit(to: state.generation) { $0.view.store(node) }
        }
    }

    /// Removes node `id` from the view, before any batch queued after this call.
    public func remove(_ id: String) {
        state.withLock { state in
            state.nodes.remove(id)
            submit(to: state.generation) { $0.view.remove(id) }
        }
    }

    /// Places `jobs` on the scheduler thread and calls `completion` with the
    /// checked result on `loop`'s thread. Returns at once.
    public func schedule(
        _ jobs: [PendingJob], completingOn loop: EventLoop,
        _ completion: @escaping @Sendable (ScheduleResult) -> Void
    ) {
        enqueue(Request(jobs: jobs) { result in loop.execute { completion(result) } })
    }

    /// Places `jobs` on the scheduler thread and returns the checked result.
    public func schedule(_ jobs: [PendingJob]) async -> ScheduleResult {
        await withCheckedContinuation { continuation in
            enqueue(Request(jobs: jobs) { continuation.resume(returning: $0) })
        }
    }

    /// Why the current plugin is quarantined (or was abandoned), or nil,
    /// after the work queued before.
    public func quarantineReason() async -> String? {
        await onThread { [self] generation in
            state.withLock { $0.abandoned } ?? generation.guarded.quarantineReason
        } ?? nil
    }

    /// The slowest `place` call of the current plugin so far (after queued work).
    public func slowestCall() async -> Duration {
        await onThread { $0.guarded.slowestCall } ?? .zero
    }

    /// Trusts the quarantined plugin again, after the work queued before.
    public func release() {
        _ = state.withLock { state in submit(to: state.generation) { $0.guarded.release() } }
    }

    /// How long the `place` call now running has taken, or nil when none
    /// runs. Readable from any thread at any time.
    public var callInProgress: Duration? {
        let since = state.withLock { $0.generation }.busySince.load(ordering: .acquiring)
        guard since != 0 else { return nil }
        return .nanoseconds(Int64(clamping: monotonicNanos() &- since))
    }

    /// Abandons the scheduler thread if its `place` has run longer than
    /// `hangLimit` (see the type's documentation). Returns whether it did.
    /// Cheap: call it from a loop timer as a watchdog.
    @discardableResult
    public func checkForHang() -> Bool {
        state.withLock { state -> Bool in
            let hung = state.generation
            let since = hung.busySince.load(ordering: .acquiring)
            guard since != 0, monotonicNanos() &- since > Self.nanoseconds(hangLimit) else { return false }
            guard
                let fresh = try? Generation(
                    GuardedScheduler(BuiltinScheduler(.binPacking), failureLimit: failureLimit, budget: budget))
            else { return false }
            let name = hung.placing.withLock { $0 }
            let reason =
                "\(name): place has run for \(GuardedScheduler.milliseconds(.nanoseconds(Int64(clamping: monotonicNanos() &- since)))) "
                + "without returning, over its hang limit of \(GuardedScheduler.milliseconds(hangLimit)); "
                + "its thread was abandoned"
            state.abandoned = reason
            let nodes = state.nodes.ordered
            submit(to: fresh) { generation in nodes.forEach(generation.view.store) }
            if let request = hung.inFlight.withLock({ request in
                defer { request = nil }
                return request
            }) {
                submit(to: fresh) { [self] in run(request, on: $0, quarantined: reason) }
            }
            for work in hung.thread.abandon() { fresh.thread.submit(work) }
            state.generation = fresh
            return true
        }
    }

    /// Finishes the queued work, destroys the plugin instance on the
    /// scheduler thread, and stops the thread. Blocks until then: call it
    /// from a thread other than the loop's when a plugin may be slow.
    /// An abandoned thread is never waited for.
    public func shutdown() {
        let generation = state.withLock { $0.generation }
        generation.thread.submit { [generation] in
            generation.guarded = GuardedScheduler(BuiltinScheduler(.binPacking))
        }
        generation.thread.shutdown()
    }

    private func enqueue(_ request: Request) {
        checkForHang()
        let accepted = state.withLock { state in
            submit(to: state.generation) { [self] in run(request, on: $0) }
        }
        if !accepted { request.deliver(Self.stopped(request.jobs)) }
    }

    /// Queues `work` for whichever generation is current when it runs: the
    /// one it was queued on, or the one it moved to after a hang.
    @discardableResult
    private func submit(to generation: Generation, _ work: @escaping @Sendable (Generation) -> Void) -> Bool {
        generation.thread.submit { [self] in work(state.withLock { $0.generation }) }
    }

    /// On `generation`'s thread.
    private func run(_ request: Request, on generation: Generation, quarantined: String? = nil) {
        generation.inFlight.withLock { $0 = request }
        generation.placing.withLock { $0 = generation.guarded.source.strategyName }
        generation.busySince.store(monotonicNanos(), ordering: .releasing)
        var result = generation.guarded.schedule(JobBatch(request.jobs), in: generation.view)
        generation.busySince.store(0, ordering: .releasing)
        let mine = generation.inFlight.withLock { taken in
            defer { taken = nil }
            return taken != nil
        }
        guard mine else { return }  // abandoned meanwhile: the new thread answers it
        if let quarantined { result.quarantined = quarantined }
        request.deliver(result)
    }

    /// Runs `body` on the scheduler thread and returns its value; nil once
    /// the service has been shut down.
    private func onThread<T: Sendable>(_ body: @escaping @Sendable (Generation) -> T) async -> T? {
        await withCheckedContinuation { continuation in
            let accepted = state.withLock { state in
                submit(to: state.generation) { continuation.resume(returning: body($0)) }
            }
            if !accepted { continuation.resume(returning: nil) }
        }
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
    }

    private static func stopped(_ jobs: [PendingJob]) -> ScheduleResult {
        var result = ScheduleResult()
        result.strategy = "none"
        for job in jobs { result.pending[job.id] = "the scheduling service has been shut down" }
        return result
    }
}

/// Every node the service was sent, in the order a `ClusterView` would hold them.
private struct NodeMirror {
    private var nodes: [Node] = []
    private var positions: [String: Int] = [:]

    var ordered: [Node] { nodes }

    mutating func upsert(_ node: Node) {
        if let index = positions[node.id] {
            nodes[index] = node
        } else {
            positions[node.id] = nodes.count
            nodes.append(node)
        }
    }

    mutating func remove(_ id: String) {
        guard let index = positions.removeValue(forKey: id) else { return }
        let last = nodes.count - 1
        if index != last {
            nodes[index] = nodes[last]
            positions[nodes[index].id] = index
        }
        nodes.removeLast()
    }
}
