import Glibc
import OrchionCore

/// Runs a strategy, times every call, and checks every answer before
/// anything acts on it.
///
/// A placement onto a missing, unready or too-small node, one that breaks an
/// arch, label or GPU constraint, or one naming GPUs it may not take is
/// refused and its job stays pending. The strategy is quarantined — and the
/// built-in bin-packing strategy places jobs instead — after `failureLimit`
/// consecutive rounds with a refused answer or a failed call, or at once when
/// one call takes longer than `budget`. A call over budget has its answers
/// discarded: the same batch is placed by the built-in strategy in that round.
///
/// Threading: one thread at a time (the thread its plugin is called on; the
/// scheduler thread under a `SchedulingService`).
public final class GuardedScheduler {
    /// The strategy being guarded.
    public let source: PlacementSource
    /// Consecutive bad rounds that quarantine the strategy.
    public let failureLimit: Int
    /// The longest one call of the strategy may take.
    public let budget: Duration
    /// Why the strategy is quarantined, or nil while it is trusted.
    public private(set) var quarantineReason: String?
    /// The slowest call of the guarded strategy so far.
    public private(set) var slowestCall: Duration = .zero
    private var consecutiveFailures = 0
    private let fallback = BuiltinScheduler(.binPacking)

    /// Guards `source`.
    public init(_ source: PlacementSource, failureLimit: Int = 3, budget: Duration = .seconds(1)) {
        self.source = source
        self.failureLimit = failureLimit
        self.budget = budget
    }

    /// Places `batch` against `view`: only valid placements come back as assignments.
    public func schedule(_ batch: JobBatch, in view: ClusterView) -> ScheduleResult {
        guard quarantineReason == nil else { return Self.run(fallback, batch, view) }
        let result = Self.run(source, batch, view)
        slowestCall = max(slowestCall, result.duration)
        if result.duration > budget {
            let reason =
                "place took \(Self.milliseconds(result.duration)), over its budget of \(Self.milliseconds(budget))"
            quarantineReason = reason
            var replacement = Self.run(fallback, batch, view)
            replacement.quarantined = reason
            return replacement
        }
        guard result.failure != nil || !result.invalid.isEmpty else {
            consecutiveFailures = 0
            return result
        }
        consecutiveFailures += 1
        guard consecutiveFailures >= failureLimit else { return result }
        let last = result.failure?.description ?? result.invalid.first?.description ?? ""
        let reason = "\(consecutiveFailures) consecutive bad rounds; last: \(last)"
        quarantineReason = reason
        var quarantining = result
        quarantining.quarantined = reason
        return quarantining
    }

    /// Calls `strategy` once, timed, and checks its answers.
    private static func run(_ strategy: PlacementSource, _ batch: JobBatch, _ view: ClusterView) -> ScheduleResult {
        var result = ScheduleResult()
        result.strategy = strategy.strategyName
        let start = monotonicNanos()
        let answers: Result<[PlacementAnswer], PluginError>
        do {
            answers = .success(try strategy.place(batch, in: view))
        } catch {
            answers = .failure(error)
        }
        result.duration = .nanoseconds(Int64(clamping: monotonicNanos() &- start))
        switch answers {
        case .success(let answers):
            check(answers, batch: batch, view: view, strategy: strategy.strategyName, into: &result)
        case .failure(let error):
            result.failure = ScheduleFailure(strategy: strategy.strategyName, message: error.description)
            for job in batch.jobs { result.pending[job.id] = error.description }
        }
        return result
    }

    /// Validates raw answers, binding the valid ones.
    static func check(
        _ answers: [PlacementAnswer], batch: JobBatch, view: ClusterView, strategy: String,
        into result: inout ScheduleResult
    ) {
        var ledgers: [Int: NodeLedger] = [:]
        for (job, answer) in zip(batch.jobs, answers) {
            let index: Int64
            let named: [UInt32]?
            switch answer {
            case .unschedulable(let reason):
                result.pending[job.id] = reason
                continue
            case .node(let chosen, let gpus):
                (index, named) = (chosen, gpus)
            case .tooManyGPUs(let chosen, _):
                (index, named) = (chosen, nil)
            }
            do throws(PlacementRejection) {
                guard index >= 0, index < view.nodes.count else {
                    throw .noSuchNode(index: index, nodeCount: view.nodes.count)
                }
                let node = view.nodes[Int(index)]
                if case .tooManyGPUs(_, let count) = answer {
                    throw .gpuCountMismatch(node: node.id, needed: job.requirements.gpu.count, named: Int(count))
                }
                let gpus = try ledgers[Int(index), default: NodeLedger()].admit(
                    job.requirements, on: node, gpuIndices: named ?? [])
                result.assignments.append(Assignment(jobID: job.id, nodeID: node.id, gpuIndices: gpus))
            } catch {
                result.invalid.append(InvalidPlacement(jobID: job.id, strategy: strategy, problem: error))
                result.pending[job.id] = "refused placement from \(strategy): \(error)"
            }
        }
    }

    /// Takes the strategy out of service with `reason`: the built-in
    /// strategy places its batches until `release()`.
    public func quarantine(_ reason: String) {
        quarantineReason = reason
    }

    /// Trusts the strategy again (after an operator fixed or replaced it).
    public func release() {
        quarantineReason = nil
        consecutiveFailures = 0
    }

    /// "1503.2 ms"
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10_000 + attoseconds / 100_000_000_000_000
        return tenths % 10 == 0 ? "\(tenths / 10) ms" : "\(tenths / 10).\(tenths % 10) ms"
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
