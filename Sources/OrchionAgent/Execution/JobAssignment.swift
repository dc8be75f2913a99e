import OrchionCore

/// What the server asks the agent to run: one attempt of a job, with the
/// GPUs its placement granted on this node.
///
/// Threading: a value; safe anywhere.
public struct JobAssignment: Sendable, Hashable {
    public var spec: JobSpec
    /// The attempt number (1 for the first), in `ORCHION_ATTEMPT` and the cgroup's name.
    public var attempt: UInt32
    /// Device indices of the granted GPUs, in `CUDA_VISIBLE_DEVICES` and
    /// `ROCR_VISIBLE_DEVICES` (empty: the job sees no GPU).
    public var gpus: [UInt32]

    public init(spec: JobSpec, attempt: UInt32 = 1, gpus: [UInt32] = []) {
        self.spec = spec
        self.attempt = attempt
        self.gpus = gpus
    }
}

/// How one attempt ended on this node, for the server.
///
/// Threading: a value; safe anywhere.
public struct AttemptReport: Sendable, Hashable {
    public let assignment: JobAssignment
    /// The executor plugin that ran it.
    public let executor: String
    /// Exit status, host stop (a memory-limit kill included) and the executor's verdict.
    public let outcome: JobOutcome
    /// The attempt's cgroup and its limits, when it had one (removed by now).
    public let cgroup: JobCgroup?
    /// Why memory/CPU limits were not enforced, when they were not; also
    /// appended to the outcome's reason when the job asked for limits.
    public let limitsNotEnforced: String?
    /// What the cgroup counted.
    public let usage: CgroupUsage?
    public let stdoutBytes: UInt64
    public let stderrBytes: UInt64
    /// Output bytes that went through the spill file because the consumer was behind.
    public let spilledBytes: UInt64
    /// Problems after the fact (a cgroup that could not be removed).
    public let notes: [String]
}
