/// A job the host has bound to a node, with the GPUs it takes there: what
/// the control plane records and the agent pins (`orchion.v1.Attempt`'s
/// `node_id` and `gpu_indices`).
///
/// Threading: a value; safe anywhere.
public struct Assignment: Sendable, Hashable, Codable {
    /// The job placed.
    public let jobID: String
    /// The node it goes to.
    public let nodeID: String
    /// Node-local indices (`GPU.index`) of the GPUs it takes; empty for a CPU-only job.
    public let gpuIndices: [UInt32]

    /// Creates an assignment.
    public init(jobID: String, nodeID: String, gpuIndices: [UInt32] = []) {
        self.jobID = jobID
        self.nodeID = nodeID
        self.gpuIndices = gpuIndices
    }
}
