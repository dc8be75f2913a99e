/// How one attempt of a job ended on its node: what the process did, whether
/// the host stopped it, and the executor's verdict.
///
/// Threading: a value; safe anywhere.
public struct JobOutcome: Sendable, Hashable, Codable {
    /// The process's exit status.
    public let status: ExitStatus
    /// Whether, and why, the host stopped the process; nil when it ended by itself.
    public let stoppedBy: HostStop?
    /// The executor's verdict.
    public let verdict: ExitClass
    /// The executor's reason.
    public let reason: String

    /// Creates an outcome.
    public init(status: ExitStatus, stoppedBy: HostStop?, verdict: ExitClass, reason: String) {
        self.status = status
        self.stoppedBy = stoppedBy
        self.verdict = verdict
        self.reason = reason
    }

    /// Creates an outcome of a process the host stopped only for its timeout, if at all.
    public init(status: ExitStatus, timedOut: Bool, verdict: ExitClass, reason: String) {
        self.init(status: status, stoppedBy: timedOut ? .timedOut : nil, verdict: verdict, reason: reason)
    }

    /// Whether the host killed it for running past its timeout.
    public var timedOut: Bool { stoppedBy == .timedOut }

    /// How the attempt ended, for a `RetryPolicy`: a host stop wins over the verdict.
    public var end: AttemptEnd { stoppedBy.map(AttemptEnd.stoppedByHost) ?? .exited(verdict) }

    /// The state the attempt ended in: `cancelled` when a user stopped it,
    /// `failed` on a timeout, a memory-limit kill or an unsuccessful
    /// verdict, else `succeeded`.
    public var state: JobState {
        switch (stoppedBy, verdict) {
        case (.cancelled?, _): .cancelled
        case (.timedOut?, _), (.memoryLimit?, _), (nil, .failed), (nil, .retryable): .failed
        case (nil, .succeeded): .succeeded
        }
    }
}
