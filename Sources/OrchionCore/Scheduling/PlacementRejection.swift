/// Why a job cannot go onto a node. Each case says what was expected and what was found.
public enum PlacementRejection: Error, Hashable, CustomStringConvertible {
    /// The node index a scheduler returned does not exist.
    case noSuchNode(index: Int64, nodeCount: Int)
    /// The node is not ready.
    case nodeNotReady(node: String, state: NodeState)
    /// Not enough CPU left.
    case insufficientCPU(node: String, needed: UInt64, free: UInt64)
    /// Not enough memory left.
    case insufficientMemory(node: String, needed: UInt64, free: UInt64)
    /// Not enough free GPUs that match the request.
    case insufficientGPUs(node: String, needed: UInt32, matching: Int)
    /// The node's architecture is not the required one.
    case archMismatch(node: String, expected: String, found: String)
    /// A constraint label is missing or differs.
    case constraintUnmet(node: String, key: String, expected: String, found: String?)
    /// The scheduler named a number of GPUs other than none or the job's count.
    case gpuCountMismatch(node: String, named: Int, expected: UInt32)
    /// The scheduler named a GPU index the node does not have.
    case noSuchGPU(node: String, index: UInt32)
    /// The scheduler named one GPU twice for one job.
    case gpuNamedTwice(node: String, index: UInt32)
    /// The scheduler named a GPU that a job already holds (or an earlier job of the batch took).
    case gpuNotFree(node: String, index: UInt32)
    /// The scheduler named a GPU that does not satisfy the job's GPU request.
    case gpuMismatch(node: String, index: UInt32, found: String)

    public var description: String {
        switch self {
        case let .noSuchNode(index, count):
            "node index \(index) does not exist: expected 0..<\(count)"
        case let .nodeNotReady(node, state):
            "node \(node) is \(state.rawValue): expected ready"
        case let .insufficientCPU(node, needed, free):
            "node \(node) has \(free) free CPU millis: expected at least \(needed)"
        case let .insufficientMemory(node, needed, free):
            "node \(node) has \(free) free memory bytes: expected at least \(needed)"
        case let .insufficientGPUs(node, needed, matching):
            "node \(node) has \(matching) free matching GPUs: expected at least \(needed)"
        case let .archMismatch(node, expected, found):
            "node \(node) is \(found): expected \(expected)"
        case let .constraintUnmet(node, key, expected, found):
            "node \(node) has label \(key)=\(found ?? "<unset>"): expected \(key)=\(expected)"
        case let .gpuCountMismatch(node, named, expected):
            "\(named) GPUs of node \(node) named: expected 0 (the host chooses) or \(expected)"
        case let .noSuchGPU(node, index):
            "GPU \(index) of node \(node) does not exist: expected one of the node's GPU indices"
        case let .gpuNamedTwice(node, index):
            "GPU \(index) of node \(node) named twice: expected distinct GPUs"
        case let .gpuNotFree(node, index):
            "GPU \(index) of node \(node) is taken: expected a free GPU"
        case let .gpuMismatch(node, index, found):
            "GPU \(index) of node \(node) is \(found): expected one matching the job's GPU request"
        }
    }
}
