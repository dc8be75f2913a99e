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
/// Threading: every method may be called from any thread, the loop thread
/// included; none of them blocks except `shutdown`. Completions passed a loop
/// run on that loop's thread.
public final class SchedulingService: Sendable {
    /// The longest one `place` call may take before its plugin is quarantined.
    public let budget: Duration
    /// Consecutive bad rounds that quarantine a plugin.
    public let failureLimit: Int
    private let thread: SchedulerThread
    private let confined: Confined
    /// When the `place` call in progress started (CLOCK_MONOTONIC ns), or 0.
    private let busySince = Atomic<UInt64>(0)

    /// What only the scheduler thread touches.
    private final class Confined: @unchecked Sendable {
        let view = ClusterView()
        var guarded: GuardedScheduler

        init(_ guarded: GuardedScheduler) { self.guarded = guarded }
    }

    /// Starts the scheduler thread with the built-in bin-packing strategy.
    public init(budget: Duration = .seconds(1), failureLimit: Int = 3) throws(SchedulerThreadError) {
        self.budget = budget
        self.failureLimit = failureLimit
        thread = try SchedulerThread()
        confined = Confined(
            GuardedScheduler(BuiltinScheduler(.binPacking), failureLimit: failureLimit, budget: budget))
    }

    /// Replaces the strategy with a new instance of `library`, initialised on
    /// the scheduler thread after the work queued before it. The old
    /// instance is destroyed there too. `sink` runs on the scheduler thread.
    public func use(
        _ library: PluginLibrary, instance: String? = nil, config: [String: String] = [:],
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }
    ) async throws(PluginError) {
        let outcome: Result<Void, PluginError>? = await onThread { [confined, budget, failureLimit] in
            do throws(PluginError) {
                let plugin = try SchedulerPlugin(library, instance: instance, config: config, sink: sink)
                confined.guarded = GuardedScheduler(plugin, failureLimit: failureLimit, budget: budget)
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

    /// Adds or replaces `node` in the view, before any batch queued after this call.
    public func upsert(_ node: Node) {
        thread.submit { [confined] in confined.view.upsert(node) }
    }

    /// Removes node `id` from the view, before any batch queued after this call.
    public func remove(_ id: String) {
        thread.submit { [confined] in confined.view.remove(id) }
    }

    /// Places `jobs` on the scheduler thread and calls `completion` with the
    /// checked result on `loop`'s thread. Returns at once.
    public func schedule(
        _ jobs: [PendingJob], completingOn loop: EventLoop,
        _ completion: @escaping @Sendable (ScheduleResult) -> Void
    ) {
        let accepted = thread.submit { [self] in
            let result = place(jobs)
            loop.execute { completion(result) }
        }
        if !accepted {
            loop.execute { completion(Self.stopped(jobs)) }
        }
    }

    /// Places `jobs` on the scheduler thread and returns the checked result.
    public func schedule(_ jobs: [PendingJob]) async -> ScheduleResult {
        await onThread { [self] in place(jobs) } ?? Self.stopped(jobs)
    }

    /// Why the current plugin is quarantined, or nil (after queued work).
    public func quarantineReason() async -> String? {
        await onThread { [confined] in confined.guarded.quarantineReason } ?? nil
    }

    /// The slowest `place` call of the current plugin so far (after queued work).
    public func slowestCall() async -> Duration {
        await onThread { [confined] in confined.guarded.slowestCall } ?? .zero
    }

    /// Trusts the quarantined plugin again, after the work queued before.
    public func release() {
        thread.submit { [confined] in confined.guarded.release() }
    }

    /// How long the `place` call now running has taken, or nil when none
    /// runs. Readable from any thread at any time — a watchdog for a plugin
    /// that never returns.
    public var callInProgress: Duration? {
        let since = busySince.load(ordering: .acquiring)
        guard since != 0 else { return nil }
        return .nanoseconds(Int64(clamping: monotonicNanos() &- since))
    }

    /// Finishes the queued work, destroys the plugin instance on the
    /// scheduler thread, and stops the thread. Blocks until then: call it
    /// from a thread other than the loop's when a plugin may be slow.
    public func shutdown() {
        thread.submit { [confined] in
            confined.guarded = GuardedScheduler(BuiltinScheduler(.binPacking))
        }
        thread.shutdown()
    }

    /// On the scheduler thread.
    private func place(_ jobs: [PendingJob]) -> ScheduleResult {
        busySince.store(monotonicNanos(), ordering: .releasing)
        defer { busySince.store(0, ordering: .releasing) }
        return confined.guarded.schedule(JobBatch(jobs), in: confined.view)
    }

    /// Runs `body` on the scheduler thread and returns its value; nil once
    /// the thread has been shut down.
    private func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { continuation in
            let accepted = thread.submit { continuation.resume(returning: body()) }
            if !accepted { continuation.resume(returning: nil) }
        }
    }

    private static func stopped(_ jobs: [PendingJob]) -> ScheduleResult {
        var result = ScheduleResult()
        result.strategy = "none"
        for job in jobs { result.pending[job.id] = "the scheduling service has been shut down" }
        return result
    }
}
