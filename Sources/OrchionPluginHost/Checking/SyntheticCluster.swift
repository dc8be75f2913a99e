import OrchionCore

/// A deterministic, realistic mixed cluster and workload for `plugin check`
/// and the benchmark: x86_64 and aarch64 machines of many sizes, one in eight
/// with NVIDIA or AMD GPUs, three zones, a few nodes draining or down.
public enum SyntheticCluster {
    private static let gib: UInt64 = 1 << 30

    /// `count` nodes; the same count always gives the same cluster.
    public static func nodes(_ count: Int) -> [Node] {
        var random = SplitMix(seed: 42)
        return (0..<count).map { index in
            let arm = random.next(4) == 0
            let cores = UInt64([2, 4, 8, 16, 32, 64][random.next(6)])
            let hasGPUs = index % 8 == 3
            let gpuModel = [
                ("nvidia", "NVIDIA H100", 80), ("nvidia", "NVIDIA GeForce RTX 4090", 24),
                ("amd", "AMD Instinct MI210", 64),
            ][random.next(3)]
            let gpus =
                hasGPUs
                ? (0..<UInt32(1 + random.next(4))).map {
                    GPU(vendor: gpuModel.0, model: gpuModel.1, memoryBytes: UInt64(gpuModel.2) * gib, index: $0)
                }
                : []
            let state: NodeState = index % 50 == 49 ? .draining : index % 97 == 96 ? .down : .ready
            return Node(
                id: "node-\(index)", arch: arm ? "aarch64" : "x86_64", state: state,
                cpuMillis: cores * 1000, memoryBytes: cores * 4 * gib,
                labels: ["zone": ["a", "b", "c"][index % 3], "disk": index % 4 == 0 ? "ssd" : "hdd"],
                gpus: gpus)
        }
    }

    /// The 32 nodes `plugin check` schedules onto: `nodes(32)` with two
    /// nodes not ready (one draining, one down, the down one with GPUs) and
    /// one ready node with two 80 GiB NVIDIA GPUs, so every GPU job of
    /// `jobs(_:)` fits some ready node.
    public static func checkNodes() -> [Node] {
        var nodes = nodes(32)
        guard nodes.count == 32 else { return nodes }
        nodes[5].state = .draining
        nodes[11].state = .down
        nodes[3].state = .ready
        nodes[3].gpus = (0..<2).map {
            GPU(vendor: "nvidia", model: "NVIDIA H100", memoryBytes: 80 * gib, index: UInt32($0))
        }
        nodes[3].cpuMillis = 32_000
        nodes[3].memoryBytes = 128 * gib
        return nodes
    }

    /// `count` pending jobs: mostly small CPU jobs, some GPU jobs with vendor
    /// or memory filters, some pinned to an arch or a label.
    public static func jobs(_ count: Int, prefix: String = "job") -> [PendingJob] {
        var random = SplitMix(seed: 7)
        return (0..<count).map { index in
            let kind = random.next(20)
            let requirements: JobRequirements
            switch kind {
            case 0:
                requirements = JobRequirements(
                    cpuMillis: 2000, memoryBytes: 16 * gib,
                    gpu: GPURequest(count: 1, vendor: "nvidia", minMemoryBytes: 40 * gib))
            case 1:
                requirements = JobRequirements(cpuMillis: 1000, memoryBytes: 8 * gib, gpu: GPURequest(count: 1))
            case 2:
                requirements = JobRequirements(cpuMillis: 500, memoryBytes: gib, arch: "aarch64")
            case 3:
                requirements = JobRequirements(cpuMillis: 1000, memoryBytes: 2 * gib, constraints: ["disk": "ssd"])
            default:
                requirements = JobRequirements(
                    cpuMillis: UInt64(100 * (1 + random.next(10))), memoryBytes: UInt64(1 + random.next(4)) * gib / 4,
                    priority: Int32(random.next(3)))
            }
            return PendingJob(id: "\(prefix)-\(index)", requirements: requirements)
        }
    }
}

/// A tiny deterministic generator (SplitMix64).
struct SplitMix {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A value in 0..<bound.
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
