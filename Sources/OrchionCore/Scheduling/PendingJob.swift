/// A job waiting for a node: what a scheduling batch is made of.
///
/// Threading: a value; safe anywhere.
public struct PendingJob: Sendable, Hashable {
    /// The job's id.
    public let id: String
    /// What it needs from a node.
    public let requirements: JobRequirements

    /// Creates a pending job.
    public init(id: String, requirements: JobRequirements) {
        self.id = id
        self.requirements = requirements
    }
}
