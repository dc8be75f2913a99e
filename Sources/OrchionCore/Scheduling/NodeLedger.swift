/// What a batch of placements has taken from one node so far.
///
/// Scheduling places many jobs per batch; each placement consumes resources
/// that later placements in the same batch must not count again. A ledger
/// starts from the node's free resources and records each admitted job.
public struct NodeLedger: Sendable, Hashable {
    /// Resources taken by jobs admitted through this ledger.
    public private(set) var taken: Resources = .zero
    /// GPU indices taken by jobs admitted through this ledger.
    public private(set) var takenGPUs: Set<UInt32> = []

    /// Creates an empty ledger.
    public init() {}

    /// Checks that `requirements` fit on `node` after what this ledger already
    /// holds; on success records them and returns the GPU indices assigned.
    public mutating func admit(_ requirements: JobRequirements, on node: Node) throws(PlacementRejection) -> [UInt32] {
        let gpus = try Self.check(requirements, on: node, excluding: self)
        taken = taken + requirements.resources
        takenGPUs.formUnion(gpus)
        return gpus
    }

    /// Like `admit(_:on:)`, but the job takes the GPUs a scheduler named
    /// (device indices) instead of the first free matching ones. Each must
    /// exist on `node`, be named once, be free after what this ledger holds,
    /// and match the request; there must be exactly as many as requested.
    public mutating func admit(
        _ requirements: JobRequirements, on node: Node, namedGPUs: [UInt32]
    ) throws(PlacementRejection) -> [UInt32] {
        _ = try Self.check(requirements, on: node, excluding: self)
        guard namedGPUs.count == Int(requirements.gpu.count) else {
            throw .gpuCountMismatch(node: node.id, named: namedGPUs.count, expected: requirements.gpu.count)
        }
        var seen: Set<UInt32> = []
        for index in namedGPUs {
            guard let gpu = node.gpus.first(where: { $0.index == index }) else {
                throw .noSuchGPU(node: node.id, index: index)
            }
            guard seen.insert(index).inserted else { throw .gpuNamedTwice(node: node.id, index: index) }
            guard !gpu.allocated, !takenGPUs.contains(index) else { throw .gpuNotFree(node: node.id, index: index) }
            guard gpu.matches(requirements.gpu) else {
                throw .gpuMismatch(
                    node: node.id, index: index, found: "\(gpu.vendor) \(gpu.model), \(gpu.memoryBytes) bytes")
            }
        }
        taken = taken + requirements.resources
        takenGPUs.formUnion(namedGPUs)
        return namedGPUs
    }

    /// Checks `requirements` against `node` minus what `ledger` holds, and
    /// returns the GPU indices that would be assigned. Changes nothing.
    public static func check(
        _ requirements: JobRequirements, on node: Node, excluding ledger: NodeLedger = NodeLedger()
    ) throws(PlacementRejection) -> [UInt32] {
        guard node.state == .ready else { throw .nodeNotReady(node: node.id, state: node.state) }
        if let arch = requirements.arch, arch != node.arch {
            throw .archMismatch(node: node.id, expected: arch, found: node.arch)
        }
        for (key, value) in requirements.constraints.sorted(by: { $0.key < $1.key })
        where node.labels[key] != value {
            throw .constraintUnmet(node: node.id, key: key, expected: value, found: node.labels[key])
        }
        let free = node.free - ledger.taken
        let need = requirements.resources
        if need.cpuMillis > free.cpuMillis {
            throw .insufficientCPU(node: node.id, needed: need.cpuMillis, free: free.cpuMillis)
        }
        if need.memoryBytes > free.memoryBytes {
            throw .insufficientMemory(node: node.id, needed: need.memoryBytes, free: free.memoryBytes)
        }
        guard requirements.gpu.count > 0 else { return [] }
        let matching = node.gpus.filter {
            !$0.allocated && !ledger.takenGPUs.contains($0.index) && $0.matches(requirements.gpu)
        }
        guard matching.count >= Int(requirements.gpu.count) else {
            throw .insufficientGPUs(node: node.id, needed: requirements.gpu.count, matching: matching.count)
        }
        return matching.prefix(Int(requirements.gpu.count)).map(\.index)
    }
}
