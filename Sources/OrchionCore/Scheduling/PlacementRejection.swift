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
        }
    }
}
