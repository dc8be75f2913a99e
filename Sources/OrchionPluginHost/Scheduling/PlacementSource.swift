import COrchionPlugin
import OrchionStrategies

/// Anything that proposes placements for a batch: a plugin, or a strategy
/// compiled into the host.
public protocol PlacementSource: AnyObject {
    /// The strategy's name, for reports.
    var strategyName: String { get }
    /// One raw answer per job of `batch`, in batch order.
    func place(_ batch: JobBatch, in view: ClusterView) throws(PluginError) -> [PlacementAnswer]
}

extension SchedulerPlugin: PlacementSource {
    public var strategyName: String { instance }
}

/// A built-in strategy called directly, without the plugin ABI: the host's
/// default when a plugin is quarantined, and the benchmark's baseline.
public final class BuiltinScheduler: PlacementSource {
    private var placer: Placer
    private var answers: [orchion_placement] = []

    /// Creates a direct placer for `strategy`.
    public init(_ strategy: Strategy) {
        placer = Placer(strategy)
    }

    public var strategyName: String { "built-in \(placer.strategy.rawValue)" }

    public func place(_ batch: JobBatch, in view: ClusterView) -> [PlacementAnswer] {
        let count = batch.jobs.count
        if answers.count < count { answers = Array(repeating: orchion_placement(), count: count) }
        return answers.withUnsafeMutableBufferPointer { answers in
            var out = orchion_placement_batch(
                struct_size: UInt32(MemoryLayout<orchion_placement_batch>.size),
                placement_size: UInt32(MemoryLayout<orchion_placement>.stride),
                placements: answers.baseAddress, count: count)
            view.withCView { cluster in batch.withCBatch { jobs in _ = placer.place(cluster: cluster, batch: jobs, out: &out) } }
            return (0..<count).map { PlacementAnswer(answers[$0], from: strategyName) }
        }
    }
}
