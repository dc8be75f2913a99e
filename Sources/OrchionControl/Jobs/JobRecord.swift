import OrchionCore

/// Milliseconds since the Unix epoch: the control plane's wall-clock time.
public typealias Millis = Int64

/// One try at running a job, as the control plane records it.
///
/// Threading: a value; safe anywhere.
public struct AttemptRecord: Sendable, Hashable {
    /// 1 for the first.
    public let number: UInt32
    /// The node it was placed on.
    public let nodeID: String
    /// The scheduler plugin that placed it.
    public let strategy: String
    /// GPU indices it was given on its node.
    public let gpuIndices: [UInt32]
    /// `scheduled`, `running`, or how it ended.
    public var state: JobState
    /// Whether the agent acknowledged the assignment.
    public var acknowledged = false
    public var startedAt: Millis?
    public var finishedAt: Millis?
    /// Exit code, when the process exited.
    public var exitCode: Int64 = 0
    /// Signal that ended the process, or 0.
    public var signal: Int32 = 0
    /// Why it ended the way it did, in words.
    public var reason = ""

    public init(number: UInt32, nodeID: String, strategy: String, gpuIndices: [UInt32], state: JobState = .scheduled) {
        self.number = number
        self.nodeID = nodeID
        self.strategy = strategy
        self.gpuIndices = gpuIndices
        self.state = state
    }

    /// Whether the attempt holds resources on its node (placed and not ended).
    public var isActive: Bool { state == .scheduled || state == .running }
}

/// One reason a pending job fits nowhere, and on how many nodes it holds.
public struct PendingReason: Sendable, Hashable {
    public let reason: String
    public let nodes: Int

    public init(reason: String, nodes: Int) {
        self.reason = reason
        self.nodes = nodes
    }
}

/// A job and its history: what the server stores, serves and schedules.
///
/// Threading: a value; safe anywhere.
public struct JobRecord: Sendable, Hashable {
    /// What the user asked for; `spec.id` is the job's id.
    public let spec: JobSpec
    /// The client's idempotency key, when it gave one.
    public let requestID: String?
    /// Submission order: FIFO within a priority.
    public let order: UInt64
    public let createdAt: Millis
    public internal(set) var state: JobState = .pending
    public internal(set) var attempts: [AttemptRecord] = []
    public internal(set) var updatedAt: Millis
    /// Why it is in its state, in words.
    public internal(set) var reason = "waiting for a node"
    /// Why a pending job fits nowhere, per reason with node counts.
    public internal(set) var pendingReasons: [PendingReason] = []
    /// A pending job waiting out its retry backoff: not placed before this time.
    public internal(set) var retryAt: Millis?
    /// A cancel sent to the agent and not yet confirmed: the reason given.
    public internal(set) var cancelReason: String?
    /// The name of the client token that submitted it; nil for jobs
    /// recorded before owners were.
    public let submittedBy: String?

    /// A new pending job.
    public init(spec: JobSpec, requestID: String?, order: UInt64, now: Millis, submittedBy: String? = nil) {
        self.spec = spec
        self.submittedBy = submittedBy
        self.requestID = requestID
        self.order = order
        self.createdAt = now
        self.updatedAt = now
    }

    /// A job as stored, for reloading after a restart.
    public init(
        spec: JobSpec, requestID: String?, order: UInt64, createdAt: Millis, state: JobState,
        attempts: [AttemptRecord], updatedAt: Millis, reason: String, retryAt: Millis?, cancelReason: String?,
        submittedBy: String? = nil
    ) {
        self.spec = spec
        self.submittedBy = submittedBy
        self.requestID = requestID
        self.order = order
        self.createdAt = createdAt
        self.state = state
        self.attempts = attempts
        self.updatedAt = updatedAt
        self.reason = reason
        self.retryAt = retryAt
        self.cancelReason = cancelReason
    }

    public var id: String { spec.id }

    /// The latest attempt, if any.
    public var current: AttemptRecord? { attempts.last }

    /// The attempt that holds resources on a node now, if any.
    public var activeAttempt: AttemptRecord? { current.flatMap { $0.isActive ? $0 : nil } }
}
