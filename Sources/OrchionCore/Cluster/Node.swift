/// Health of a node. Only ready nodes take new jobs.
public enum NodeState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Heartbeating and accepting jobs.
    case ready
    /// Finishing its jobs, taking no new ones.
    case draining
    /// Missed heartbeats; may come back.
    case suspect
    /// Gone; its jobs are lost.
    case down
}

/// A machine in the cluster and what it offers.
public struct Node: Sendable, Hashable, Codable, Identifiable {
    /// Stable node identifier.
    public var id: String
    /// CPU architecture as `uname -m` names it.
    public var arch: String
    /// Current health.
    public var state: NodeState
    /// What the node offers to jobs in total.
    public var capacity: Resources
    /// What running jobs hold.
    public var allocated: Resources
    /// Free-form labels used by job constraints.
    public var labels: [String: String]
    /// The node's GPUs.
    public var gpus: [GPU]

    /// Creates a node.
    public init(
        id: String, arch: String = "x86_64", state: NodeState = .ready,
        capacity: Resources, allocated: Resources = .zero,
        labels: [String: String] = [:], gpus: [GPU] = []
    ) {
        self.id = id
        self.arch = arch
        self.state = state
        self.capacity = capacity
        self.allocated = allocated
        self.labels = labels
        self.gpus = gpus
    }

    /// What is not held by running jobs.
    public var free: Resources { capacity - allocated }
}
