import OrchionCore
import OrchionLoop
import Synchronization

/// Scheduling off the I/O loop, with any number of named strategies.
///
/// Owns a `SchedulerThread` and, confined to it, the one cluster view every
/// strategy reads (kept up to date one node at a time, never copied per
/// decision) and the guarded strategies, by name. Scheduler plugins are
/// created (`install`), called (`place`) and destroyed on that thread only,
/// so plugin code never runs on the I/O loop thread and a slow `place`
/// delays only the scheduling queued behind it — heartbeats and the API go
/// on. Node updates are queued in order with the batches, so each batch sees
/// every update sent before it.
///
/// Each batch names its strategy. Every call is timed; a strategy that
/// exceeds `budget` (or fails `failureLimit` rounds in a row) is quarantined
/// with the reason — it alone: the others go on — and the built-in
/// bin-packing strategy places the batches that name it, from the round
/// that quarantined it on (that round's answers are discarded), as it does
/// those naming a strategy that is not installed. The result says so
/// (`ScheduleResult.fallbackReason`, `fallbackFailed`).
///
/// A `place` that does not return within `hangLimit` cannot be interrupted,
/// so its thread is abandoned: `checkForHang()` (called by every `schedule`,
/// and by any watchdog) starts a new scheduler thread with a view rebuilt
/// from the updates it was sent, re-creates every other installed strategy
/// there from its library (keeping their quarantines), moves the work queued
/// behind the hung call to it — the hung batch first — and reports the hung
/// strategy quarantined until it is installed again. Whatever the hung call
/// answers, if it ever returns, is dropped.
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

    /// The name results give the built-in fallback.
    public static let fallbackName = BuiltinScheduler(.binPacking).strategyName

    private struct State {
        var generation: Generation
        /// Every node update sent, for rebuilding a view after a hang.
        var nodes = NodeMirror()
        /// What each installed strategy was created from, for re-creating it
        /// on a new thread after a hang.
        var installed: [String: Installation] = [:]
        /// Each installed strategy's state, kept current by the scheduler
        /// thread and readable without waiting for it.
        var statuses: [String: StrategyState] = [:]
        /// Strategies whose thread was abandoned (their instance is gone),
        /// with the reason, until installed again.
        var abandoned: [String: String] = [:]
    }

    /// What a strategy was installed from.
    private struct Installation: Sendable {
        let library: PluginLibrary
        let config: [String: String]
        let sink: @Sendable (String, PluginEvent) -> Void
    }

    /// One scheduler thread and what only it touches.
    private final class Generation: @unchecked Sendable {
        let thread: SchedulerThread
        let view = ClusterView()
        var strategies: [String: GuardedScheduler] = [:]
        let fallback: GuardedScheduler
        /// When the `place` call in progress started (CLOCK_MONOTONIC ns), or 0.
        let busySince = Atomic<UInt64>(0)
        /// The strategy of the call in progress, readable from any thread.
        let placing = Mutex("")
        /// The batch being placed: whoever takes it (its thread when the call
        /// returns, or `checkForHang`) answers it.
        let inFlight = Mutex<Request?>(nil)

        init() throws(SchedulerThreadError) {
            thread = try SchedulerThread()
            // The built-in strategy is host code: it is never quarantined.
            fallback = GuardedScheduler(BuiltinScheduler(.binPacking), failureLimit: .max, budget: .seconds(86_400))
        }
    }

    /// A batch to place, the strategy it names, and where its result goes.
    private struct Request: Sendable {
        let jobs: [PendingJob]
        let strategy: String
        let deliver: @Sendable (ScheduleResult) -> Void
    }

    /// Starts the scheduler thread with no strategy installed: until one is,
    /// every batch is placed by the built-in bin-packing fallback.
    public init(
        budget: Duration = .seconds(1), hangLimit: Duration = .seconds(10), failureLimit: Int = 3
    ) throws(SchedulerThreadError) {
        self.budget = budget
        self.hangLimit = hangLimit
        self.failureLimit = failureLimit
        state = Mutex(State(generation: try Generation()))
    }

    deinit { shutdown() }

    // MARK: Strategies

    /// Installs a new instance of `library` under the plugin's name
    /// (`library.info.name`), replacing the strategy of that name if any:
    /// initialised on the scheduler thread after the work queued before it;
    /// a replaced instance is destroyed there too. A strategy abandoned
    /// after a hang is usable again once installed anew. `sink` runs on the
    /// scheduler thread.
    public func install(
        _ library: PluginLibrary, config: [String: String] = [:],
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }
    ) async throws(PluginError) {
        let outcome: Result<Void, PluginError> = await withCheckedContinuation { continuation in
            install(library, config: config, sink: sink) { continuation.resume(returning: $0) }
        }
        try outcome.get()
    }

    /// Like `install(_:config:sink:)`, calling `completion` on `loop`'s
    /// thread with the outcome. Returns at once.
    public func install(
        _ library: PluginLibrary, config: [String: String] = [:],
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }, completingOn loop: EventLoop,
        _ completion: @escaping @Sendable (Result<Void, PluginError>) -> Void
    ) {
        install(library, config: config, sink: sink) { outcome in loop.execute { completion(outcome) } }
    }

    private func install(
        _ library: PluginLibrary, config: [String: String], sink: @escaping @Sendable (String, PluginEvent) -> Void,
        deliver: @escaping @Sendable (Result<Void, PluginError>) -> Void
    ) {
        let installation = Installation(library: library, config: config, sink: sink)
        let accepted = state.withLock { state in
            submit(to: state.generation) { [self] generation in deliver(create(installation, on: generation)) }
        }
        if !accepted {
            deliver(
                .failure(
                    .callFailed(
                        name: library.info.name, function: "init", status: -1,
                        message: "the scheduling service has been shut down")))
        }
    }

    /// On `generation`'s thread: creates and installs an instance.
    private func create(_ installation: Installation, on generation: Generation, quarantined: String? = nil)
        -> Result<Void, PluginError>
    {
        let info = installation.library.info
        let name = info.name
        guard info.kind == .scheduler else {
            return .failure(
                .invalidDescriptor(
                    file: info.file, field: "kind", expected: "a scheduler plugin",
                    found: "an \(info.kind.rawValue) plugin"))
        }
        do throws(PluginError) {
            let plugin = try SchedulerPlugin(
                installation.library, instance: name, config: installation.config, sink: installation.sink)
            let guarded = GuardedScheduler(plugin, failureLimit: failureLimit, budget: budget)
            if let quarantined { guarded.quarantine(quarantined) }
            generation.strategies[name] = guarded
            state.withLock { state in
                state.installed[name] = installation
                state.abandoned[name] = nil
                state.statuses[name] = quarantined.map(StrategyState.quarantined) ?? .ready
            }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Removes strategy `name` (its instance is destroyed on the scheduler
    /// thread after the work queued before); batches naming it go to the
    /// fallback from then on. Returns at once.
    public func remove(strategy name: String) {
        state.withLock { state in
            state.installed[name] = nil
            state.statuses[name] = nil
            state.abandoned[name] = nil
            submit(to: state.generation) { generation in generation.strategies[name] = nil }
        }
    }

    /// Every installed strategy and its state, by name. Never waits for the
    /// scheduler thread: a strategy quarantined by a round shows once that
    /// round's result is delivered.
    public func strategies() -> [StrategyStatus] {
        state.withLock { state in
            state.statuses.sorted { $0.key < $1.key }.compactMap { name, strategyState in
                state.installed[name].map {
                    StrategyStatus(name: name, state: strategyState, plugin: $0.library.info)
                }
            }
        }
    }

    /// Trusts quarantined strategy `name` again, after the work queued
    /// before. A strategy abandoned after a hang has no instance left to
    /// trust: install it again instead.
    public func release(strategy name: String) {
        _ = state.withLock { state in
            submit(to: state.generation) { [self] generation in
                guard let guarded = generation.strategies[name] else { return }
                guarded.release()
                self.state.withLock { state in
                    if state.abandoned[name] == nil, state.installed[name] != nil { state.statuses[name] = .ready }
                }
            }
        }
    }

    /// The slowest `place` call of strategy `name` so far (after queued work).
    public func slowestCall(strategy name: String) async -> Duration {
        await onThread { $0.strategies[name]?.slowestCall ?? .zero } ?? .zero
    }

    // MARK: Nodes

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

    // MARK: Placing

    /// Places `jobs` with strategy `strategy` (the built-in fallback when no
    /// such strategy is installed or it is quarantined) on the scheduler
    /// thread, and calls `completion` with the checked result on `loop`'s
    /// thread. Returns at once.
    public func schedule(
        _ jobs: [PendingJob], strategy: String, completingOn loop: EventLoop,
        _ completion: @escaping @Sendable (ScheduleResult) -> Void
    ) {
        enqueue(Request(jobs: jobs, strategy: strategy) { result in loop.execute { completion(result) } })
    }

    /// Places `jobs` with strategy `strategy` on the scheduler thread and
    /// returns the checked result.
    public func schedule(_ jobs: [PendingJob], strategy: String) async -> ScheduleResult {
        await withCheckedContinuation { continuation in
            enqueue(Request(jobs: jobs, strategy: strategy) { continuation.resume(returning: $0) })
        }
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
            guard let fresh = try? Generation() else { return false }
            let name = hung.placing.withLock { $0 }
            let reason =
                "\(name): place has run for \(GuardedScheduler.milliseconds(.nanoseconds(Int64(clamping: monotonicNanos() &- since)))) "
                + "without returning, over its hang limit of \(GuardedScheduler.milliseconds(hangLimit)); "
                + "its thread was abandoned"
            if state.installed[name] != nil {
                state.abandoned[name] = reason
                state.statuses[name] = .quarantined(reason)
            }
            let nodes = state.nodes.ordered
            submit(to: fresh) { generation in nodes.forEach(generation.view.store) }
            for (other, installation) in state.installed.sorted(by: { $0.key < $1.key }) where other != name {
                let quarantined: String? =
                    if case .quarantined(let why) = state.statuses[other] { why } else { nil }
                submit(to: fresh) { [self] generation in
                    if case .failure(let error) = create(installation, on: generation, quarantined: quarantined) {
                        self.state.withLock {
                            $0.statuses[other] = .quarantined(
                                "re-created after \(name) hung, its init failed: \(error.description)")
                        }
                    }
                }
            }
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

    /// Finishes the queued work, destroys every plugin instance on the
    /// scheduler thread, and stops the thread. Blocks until then: call it
    /// from a thread other than the loop's when a plugin may be slow.
    /// An abandoned thread is never waited for.
    public func shutdown() {
        let generation = state.withLock { $0.generation }
        generation.thread.submit { [generation] in generation.strategies = [:] }
        generation.thread.shutdown()
    }

    private func enqueue(_ request: Request) {
        checkForHang()
        let accepted = state.withLock { state in
            submit(to: state.generation) { [self] in run(request, on: $0) }
        }
        if !accepted { request.deliver(Self.stopped(request.jobs, strategy: request.strategy)) }
    }

    /// Queues `work` for whichever generation is current when it runs: the
    /// one it was queued on, or the one it moved to after a hang.
    @discardableResult
    private func submit(to generation: Generation, _ work: @escaping @Sendable (Generation) -> Void) -> Bool {
        generation.thread.submit { [self] in work(state.withLock { $0.generation }) }
    }

    /// On `generation`'s thread: places the batch with its strategy, or
    /// with the fallback, saying why.
    private func run(_ request: Request, on generation: Generation, quarantined: String? = nil) {
        generation.inFlight.withLock { $0 = request }
        let name = request.strategy
        let batch = JobBatch(request.jobs)
        let abandoned = state.withLock { $0.abandoned[name] }
        var result: ScheduleResult
        if let guarded = generation.strategies[name], abandoned == nil, guarded.quarantineReason == nil {
            generation.placing.withLock { $0 = name }
            generation.busySince.store(monotonicNanos(), ordering: .releasing)
            result = guarded.schedule(batch, in: generation.view)
            generation.busySince.store(0, ordering: .releasing)
            if let reason = result.quarantined {
                state.withLock { state in
                    if state.installed[name] != nil { state.statuses[name] = .quarantined(reason) }
                }
                if result.strategy != Self.fallbackName {
                    // Quarantined for bad answers: none of them is trusted, and
                    // the fallback places the whole batch in this round (as
                    // `GuardedScheduler` does for a call over budget).
                    result = generation.fallback.schedule(batch, in: generation.view)
                    result.quarantined = reason
                }
                result.fallbackReason = "strategy \(name) was quarantined: \(reason)"
            }
        } else {
            let why =
                (abandoned ?? generation.strategies[name]?.quarantineReason).map {
                    "strategy \(name) is quarantined: \($0)"
                } ?? "no strategy named \(name) is installed"
            result = generation.fallback.schedule(batch, in: generation.view)
            result.fallbackReason = why
        }
        result.requested = name
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

    private static func stopped(_ jobs: [PendingJob], strategy: String) -> ScheduleResult {
        var result = ScheduleResult()
        result.strategy = "none"
        result.requested = strategy
        for job in jobs { result.pending[job.id] = "the scheduling service has been shut down" }
        return result
    }
}

/// Whether an installed strategy places the batches that name it.
public enum StrategyState: Sendable, Hashable {
    /// Trusted: it places its batches.
    case ready
    /// Taken out of service; the built-in fallback places its batches. The reason.
    case quarantined(String)

    /// Why it is quarantined, or nil.
    public var reason: String? {
        if case .quarantined(let reason) = self { reason } else { nil }
    }
}

/// One installed strategy as `SchedulingService.strategies()` reports it.
public struct StrategyStatus: Sendable, Hashable {
    /// The name batches name it by (the plugin's name).
    public let name: String
    /// Ready or quarantined, with the reason.
    public let state: StrategyState
    /// The plugin's descriptor (file, version, ABI).
    public let plugin: PluginInfo

    public init(name: String, state: StrategyState, plugin: PluginInfo) {
        self.name = name
        self.state = state
        self.plugin = plugin
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
