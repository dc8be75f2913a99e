/// Where a job is in its life. Mirrors `orchion.v1.JobState` (its
/// `UNSPECIFIED` zero value has no case here: it is refused on the way in).
///
/// Threading: a value; safe anywhere.
public enum JobState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting for a node.
    case pending
    /// Bound to a node, not yet started.
    case scheduled
    /// Its process runs.
    case running
    /// Ended well.
    case succeeded
    /// Ended badly, with no attempt left to try.
    case failed
    /// Stopped by a user.
    case cancelled
    /// Its node went down while it ran; retried per its policy.
    case lost

    /// Whether the job can change no more.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: true
        case .pending, .scheduled, .running, .lost: false
        }
    }

    /// The states a job in this state may move to next.
    ///
    /// A retry goes back to `pending` (from `running` after a retryable
    /// failure, from `lost`, or from `scheduled` when its node refused or
    /// vanished before the start); a terminal state goes nowhere.
    public var successors: [JobState] {
        switch self {
        case .pending: [.scheduled, .cancelled]
        case .scheduled: [.running, .pending, .failed, .cancelled, .lost]
        case .running: [.succeeded, .failed, .cancelled, .lost, .pending]
        case .lost: [.pending, .failed, .cancelled]
        case .succeeded, .failed, .cancelled: []
        }
    }

    /// Whether a job in this state may move to `next`.
    public func canMove(to next: JobState) -> Bool { successors.contains(next) }

    /// Returns `next` when a job in this state may move there, else throws
    /// an error naming the allowed successors.
    public func moved(to next: JobState) throws(JobStateError) -> JobState {
        guard canMove(to: next) else { throw JobStateError(from: self, to: next) }
        return next
    }
}

/// A job state change the life cycle does not allow.
public struct JobStateError: Error, Hashable, CustomStringConvertible {
    /// The state the job was in.
    public let from: JobState
    /// The state it was asked to move to.
    public let to: JobState

    /// Creates the error for a move from `from` to `to`.
    public init(from: JobState, to: JobState) {
        self.from = from
        self.to = to
    }

    public var description: String {
        let allowed = from.successors.map(\.rawValue)
        return "a \(from.rawValue) job cannot become \(to.rawValue): expected "
            + (allowed.isEmpty ? "no change (\(from.rawValue) is final)" : allowed.joined(separator: ", "))
    }
}
