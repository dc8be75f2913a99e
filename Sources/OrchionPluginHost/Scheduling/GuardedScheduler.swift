import OrchionCore

/// Runs a strategy and checks every answer before anything acts on it.
///
/// A placement onto a missing, unready or too-small node, or one that breaks
/// an arch, label or GPU constraint, is refused and its job stays pending.
/// After `failureLimit` consecutive rounds with a refused answer or a failed
/// call, the strategy is quarantined and the built-in bin-packing strategy
/// places jobs instead.
///
/// Threading: loop thread only.
public final class GuardedScheduler {
    /// The strategy being guarded.
    public let source: PlacementSource
    /// Consecutive bad rounds that quarantine the strategy.
    public let failureLimit: Int
    /// Why the strategy is quarantined, or nil while it is trusted.
    public private(set) var quarantineReason: String?
    private var consecutiveFailures = 0
    private let fallback = BuiltinScheduler(.binPacking)

    /// Guards `source`.
    public init(_ source: PlacementSource, failureLimit: Int = 3) {
        self.source = source
        self.failureLimit = failureLimit
    }

    /// Places `batch` against `view`: only valid placements come back as assignments.
    public func schedule(_ batch: JobBatch, in view: ClusterView) -> ScheduleResult {
        let active: PlacementSource = quarantineReason == nil ? source : fallback
        var result = ScheduleResult()
        result.strategy = active.strategyName
        do {
            let answers = try active.place(batch, in: view)
            Self.check(answers, batch: batch, view: view, strategy: active.strategyName, into: &result)
        } catch {
            result.failure = ScheduleFailure(strategy: active.strategyName, message: error.description)
            for job in batch.jobs { result.pending[job.id] = error.description }
        }
        if active === source { record(result) }
        return result
    }

    /// Validates raw answers, binding the valid ones.
    static func check(
        _ answers: [PlacementAnswer], batch: JobBatch, view: ClusterView, strategy: String,
        into result: inout ScheduleResult
    ) {
        var ledgers: [Int: NodeLedger] = [:]
        for (job, answer) in zip(batch.jobs, answers) {
            switch answer {
            case .unschedulable(let reason):
                result.pending[job.id] = reason
            case .node(let index, let gpuIndices):
                do throws(PlacementRejection) {
                    guard index >= 0, index < view.nodes.count else {
                        throw .noSuchNode(index: index, nodeCount: view.nodes.count)
                    }
                    let node = view.nodes[Int(index)]
                    let gpus = try ledgers[Int(index), default: NodeLedger()]
                        .admit(job.requirements, on: node, gpuIndices: gpuIndices)
                    result.assignments.append(Assignment(jobID: job.id, nodeID: node.id, gpuIndices: gpus))
                } catch {
                    result.invalid.append(InvalidPlacement(jobID: job.id, strategy: strategy, problem: error))
                    result.pending[job.id] = "refused placement from \(strategy): \(error)"
                }
            }
        }
    }

    private func record(_ result: ScheduleResult) {
        guard result.failure != nil || !result.invalid.isEmpty else {
            consecutiveFailures = 0
            return
        }
        consecutiveFailures += 1
        if consecutiveFailures >= failureLimit {
            let last = result.failure?.description ?? result.invalid[0].description
            quarantineReason = "\(consecutiveFailures) consecutive bad rounds; last: \(last)"
        }
    }

    /// Trusts the strategy again (after an operator fixed or replaced it).
    public func release() {
        quarantineReason = nil
        consecutiveFailures = 0
    }
}
