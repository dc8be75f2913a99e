import OrchionCore

/// How an attempt ended, as its agent reports it.
///
/// Threading: a value; safe anywhere.
public struct AttemptResult: Sendable, Hashable {
    /// `succeeded`, `failed` or `cancelled`.
    public let state: JobState
    public let exitCode: Int64
    public let signal: Int32
    public let reason: String
    /// `failed` only: the executor judged another attempt may succeed.
    public let retryable: Bool
    /// `failed` only: the host stopped it for running past its timeout.
    public let timedOut: Bool

    public init(
        state: JobState, exitCode: Int64 = 0, signal: Int32 = 0, reason: String = "", retryable: Bool = false,
        timedOut: Bool = false
    ) {
        self.state = state
        self.exitCode = exitCode
        self.signal = signal
        self.reason = reason
        self.retryable = retryable
        self.timedOut = timedOut
    }

    /// How it ended, for a `RetryPolicy`.
    var end: AttemptEnd {
        switch state {
        case .cancelled: .stoppedByHost(.cancelled)
        case .failed where timedOut: .stoppedByHost(.timedOut)
        case .failed: .exited(retryable ? .retryable : .failed)
        default: .exited(.succeeded)
        }
    }
}

/// Something that happens to a job.
public enum JobInput: Sendable, Hashable {
    /// The plan applier placed the pending job.
    case placed(nodeID: String, gpuIndices: [UInt32], strategy: String)
    /// No node takes it now; why, in words and per reason.
    case unplaceable(summary: String, reasons: [PendingReason])
    /// The agent accepted this attempt's assignment.
    case acknowledged(attempt: UInt32)
    /// The agent started this attempt's process (or, re-registering, reports it still runs).
    case started(attempt: UInt32)
    /// The attempt ended on its node.
    case ended(attempt: UInt32, AttemptResult)
    /// The attempt's node went down, or came back without it.
    case lost(attempt: UInt32, reason: String)
    /// A user asked to stop the job.
    case cancel(reason: String)
    /// The retry backoff is over: the job may be placed again.
    case retryDue
}

/// What the server must do because of a transition. Persisting the job is
/// implied by `JobTransition.changed`.
public enum JobEffect: Sendable, Hashable {
    /// Send this attempt's assignment to its node.
    case assign(AttemptRecord)
    /// Send a cancel for this attempt to its node.
    case stop(AttemptRecord, reason: String)
    /// Give this attempt's resources and GPUs back to its node.
    case release(AttemptRecord)
    /// Take this attempt's resources and GPUs on its node again: it was
    /// given up as lost, and its node came back with it still running.
    case reserve(AttemptRecord)
    /// Record a change of state on the event stream.
    case event(JobChange)
    /// Put the job (back) in the queue: now, or once `retryAt` has passed.
    case enqueue
    /// Take the job out of the queue (it was cancelled, or adopted while waiting).
    case dequeue
}

/// A change of a job's state, for the event stream (the server numbers it).
public struct JobChange: Sendable, Hashable {
    public let jobID: String
    public let state: JobState
    /// The attempt it concerns, or 0.
    public let attempt: UInt32
    public let nodeID: String
    public let reason: String
    public let at: Millis
    public var exitCode: Int64 = 0
    public var signal: Int32 = 0

    public init(jobID: String, state: JobState, attempt: UInt32, nodeID: String, reason: String, at: Millis) {
        self.jobID = jobID
        self.state = state
        self.attempt = attempt
        self.nodeID = nodeID
        self.reason = reason
        self.at = at
    }
}

/// The result of applying an input to a job.
public struct JobTransition: Sendable, Hashable {
    /// What the server must do, in order.
    public var effects: [JobEffect] = []
    /// Whether the job changed (and must be stored again).
    public var changed = false
    /// Why the input was refused or did nothing, when it was.
    public var ignored: String?

    public init() {}

    static func ignoring(_ why: String) -> JobTransition {
        var transition = JobTransition()
        transition.ignored = why
        return transition
    }
}
