/// What a batch of placements has taken from one node so far, and the fit
/// rule every placement must pass.
///
/// Scheduling places many jobs per batch; each placement consumes resources
/// that later placements in the same batch must not count again. A ledger
/// starts from the node's free resources and records each admitted job.
///
/// Strings (arch, label keys and values, GPU vendor) compare byte for byte,
/// as the built-in strategies compare the C view's strings; a property test
/// (`FitRuleAgreementTests`) holds the two implementations to one verdict.
///
/// Threading: a value; safe anywhere.
public struct NodeLedger: Sendable, Hashable {
    /// Resources taken by jobs admitted through this ledger.
    public private(set) var taken: Resources = .zero
    /// GPU indices taken by jobs admitted through this ledger.
    public private(set) var takenGPUs: Set<UInt32> = []

    /// Creates an empty ledger.
    public init() {}

    /// Checks that `requirements` fit on `node` after what this ledger already
    /// holds; on success records them and returns the GPU indices assigned.
    /// `gpuIndices`, when not empty, names the GPUs the scheduler chose; they
    /// are checked instead of picked.
    public mutating func admit(
        _ requirements: JobRequirements, on node: Node, gpuIndices: [UInt32] = []
    ) throws(PlacementRejection) -> [UInt32] {
        let gpus = try Self.check(requirements, on: node, excluding: self, gpuIndices: gpuIndices)
        taken = taken + requirements.resources
        takenGPUs.formUnion(gpus)
        return gpus
    }

    /// Checks `requirements` against `node` minus what `ledger` holds, and
    /// returns the GPU indices that would be assigned: `gpuIndices` when the
    /// scheduler named them and they pass, else the first free matching GPUs
    /// in the node's order. Changes nothing.
    public static func check(
        _ requirements: JobRequirements, on node: Node, excluding ledger: NodeLedger = NodeLedger(),
        gpuIndices named: [UInt32] = []
    ) throws(PlacementRejection) -> [UInt32] {
        guard node.state == .ready else { throw .nodeNotReady(node: node.id, state: node.state) }
        guard !node.cordoned else { throw .nodeCordoned(node: node.id) }
        if let arch = requirements.arch, !arch.utf8.elementsEqual(node.arch.utf8) {
            throw .archMismatch(node: node.id, expected: arch, found: node.arch)
        }
        for (key, value) in requirements.constraints.sorted(by: { $0.key < $1.key }) {
            // A dictionary matches canonically equivalent keys; the rule wants the same bytes.
            let label = node.labels.index(forKey: key).map { node.labels[$0] }
            guard let label, label.key.utf8.elementsEqual(key.utf8), label.value.utf8.elementsEqual(value.utf8)
            else {
                throw .constraintUnmet(node: node.id, key: key, expected: value, found: label?.value)
            }
        }
        let free = node.free - ledger.taken
        let need = requirements.resources
        if need.cpuMillis > free.cpuMillis {
            throw .insufficientCPU(node: node.id, needed: need.cpuMillis, free: free.cpuMillis)
        }
        if need.memoryBytes > free.memoryBytes {
            throw .insufficientMemory(node: node.id, needed: need.memoryBytes, free: free.memoryBytes)
        }
        let wanted = requirements.gpu.count
        guard named.isEmpty else { return try checkNamed(named, requirements.gpu, on: node, excluding: ledger) }
        guard wanted > 0 else { return [] }
        let matching = node.gpus.filter { usable($0, requirements.gpu, ledger) }
        guard matching.count >= Int(wanted) else {
            throw .insufficientGPUs(node: node.id, needed: wanted, matching: matching.count)
        }
        return matching.prefix(Int(wanted)).map(\.index)
    }

    /// Whether `gpu` is free, not taken by this batch, and matches `request`.
    private static func usable(_ gpu: GPU, _ request: GPURequest, _ ledger: NodeLedger) -> Bool {
        !gpu.allocated && !ledger.takenGPUs.contains(gpu.index) && gpu.matches(request)
    }

    /// Checks GPU indices a scheduler named: as many as requested, distinct,
    /// on the node, free and matching.
    private static func checkNamed(
        _ named: [UInt32], _ request: GPURequest, on node: Node, excluding ledger: NodeLedger
    ) throws(PlacementRejection) -> [UInt32] {
        guard named.count == Int(request.count) else {
            throw .gpuCountMismatch(node: node.id, needed: request.count, named: named.count)
        }
        var seen: Set<UInt32> = []
        for index in named {
            guard seen.insert(index).inserted else { throw .gpuNamedTwice(node: node.id, index: index) }
            guard let gpu = node.gpus.first(where: { $0.index == index }) else {
                throw .noSuchGPU(node: node.id, index: index, available: node.gpus.map(\.index))
            }
            guard usable(gpu, request, ledger) else {
                let why =
                    gpu.allocated
                    ? "allocated"
                    : ledger.takenGPUs.contains(index)
                        ? "taken earlier in this batch"
                        : "\(gpu.vendor) \(gpu.model) with \(gpu.memoryBytes) bytes, not matching the request"
                throw .gpuUnavailable(node: node.id, index: index, found: why)
            }
        }
        return named
    }
}
