import OrchionControl
import OrchionCore
import OrchionMapping
import OrchionProto

/// A node as the server keeps it: the control record plus what only the
/// API shows (hardware, telemetry and its recent history).
///
/// Threading: a value; the plane keeps it on the loop thread.
struct NodeEntry {
    /// How many telemetry samples `history` keeps.
    static let historyLength = 60
    /// The least time between two samples kept in `history`.
    static let historySpacing: Millis = 10_000

    var record: NodeRecord
    var capabilities: Orchion_V1_Capabilities
    var telemetry = Orchion_V1_Telemetry()
    /// Recent samples, oldest first, at least `historySpacing` apart.
    var history: [Orchion_V1_Telemetry] = []
    /// When the last sample went into `history`.
    var historyAt: Millis = 0
    /// The capacity the agent registered with, before allocations.
    var registeredCapacity: Orchion_V1_Resources

    /// Takes a heartbeat's telemetry, keeping one sample per `historySpacing`.
    mutating func record(_ sample: Orchion_V1_Telemetry, now: Millis) {
        telemetry = sample
        guard now - historyAt >= Self.historySpacing else { return }
        historyAt = now
        if history.count >= Self.historyLength { history.removeFirst(history.count - Self.historyLength + 1) }
        var kept = sample
        kept.jobs = []  // the history charts the node; per-job usage is only the latest's
        history.append(kept)
    }

    /// The node as the API shows it; `history` only when asked (GetNode).
    func proto(jobs: Int, withHistory: Bool) -> Orchion_V1_Node {
        let node = record.node
        return .with {
            $0.id = node.id
            $0.hostname = record.hostname
            $0.state = node.state.proto
            $0.capabilities = capabilities
            $0.capacity = .with {
                $0.cpuMillis = node.cpuMillis
                $0.memoryBytes = node.memoryBytes
                $0.gpus = node.capacity.gpus
            }
            $0.allocated = .with {
                $0.cpuMillis = node.allocatedCPUMillis
                $0.memoryBytes = node.allocatedMemoryBytes
                $0.gpus = node.allocated.gpus
            }
            // By index, not a search per GPU: linear in the GPUs, as a
            // listing of many nodes needs.
            let allocated = Set(node.gpus.lazy.filter(\.allocated).map(\.index))
            $0.capabilities.gpus = capabilities.gpus.map { gpu in
                var gpu = gpu
                gpu.allocated = allocated.contains(gpu.index)
                return gpu
            }
            $0.labels = node.labels
            $0.registeredAt = .init(millis: record.registeredAt)
            $0.lastHeartbeat = .init(millis: record.lastHeartbeat)
            $0.telemetry = telemetry
            $0.cordoned = record.cordoned || record.draining
            $0.jobs = UInt32(clamping: jobs)
            if withHistory { $0.history = history }
        }
    }
}
