/// Why a job cannot go onto a node. Each case says what was expected and what was found.
///
/// Threading: a value; safe anywhere.
public enum PlacementRejection: Error, Hashable, CustomStringConvertible {
    /// The node index a scheduler returned does not exist.
    case noSuchNode(index: Int64, nodeCount: Int)
    /// The node is not ready.
    case nodeNotReady(node: String, state: NodeState)
    /// The node is cordoned: it takes no new jobs.
    case nodeCordoned(node: String)
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
    /// A scheduler named a different number of GPUs than the job asks for.
    case gpuCountMismatch(node: String, needed: UInt32, named: Int)
    /// A scheduler named the same GPU twice for one job.
    case gpuNamedTwice(node: String, index: UInt32)
    /// A scheduler named a GPU index the node does not have.
    case noSuchGPU(node: String, index: UInt32, available: [UInt32])
    /// A scheduler named a GPU that is allocated, already taken in this batch, or does not match.
    case gpuUnavailable(node: String, index: UInt32, found: String)

    public var description: String {
        switch self {
        case let .noSuchNode(index, count):
            "node index \(index) does not exist: expected 0..<\(count)"
        case let .nodeNotReady(node, state):
            "node \(node) is \(state.rawValue): expected ready"
        case let .nodeCordoned(node):
            "node \(node) is cordoned: expected an uncordoned node"
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
        case let .gpuCountMismatch(node, needed, named):
            "placement on node \(node) names \(named) GPUs: expected \(needed)"
        case let .gpuNamedTwice(node, index):
            "placement on node \(node) names GPU \(index) twice: expected distinct GPUs"
        case let .noSuchGPU(node, index, available):
            "node \(node) has no GPU \(index): expected one of [\(available.map(String.init).joined(separator: ", "))]"
        case let .gpuUnavailable(node, index, found):
            "GPU \(index) of node \(node) is \(found): expected a free GPU that matches the request"
        }
    }
}
