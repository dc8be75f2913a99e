import COrchionPlugin
import OrchionCore
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
    private let buffer = PlacementBuffer()

    /// Creates a direct placer for `strategy`.
    public init(_ strategy: Strategy) {
        placer = Placer(strategy)
    }

    public var strategyName: String { "built-in \(placer.strategy.rawValue)" }

    public func place(_ batch: JobBatch, in view: ClusterView) -> [PlacementAnswer] {
        buffer.collect(batch, strategy: strategyName) { out in
            view.withCView { cluster in
                batch.withCBatch { jobs in _ = placer.place(cluster: cluster, batch: jobs, out: out) }
            }
        }
    }
}
