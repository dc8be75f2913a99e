/// How often a failed job is tried again. Mirrors `orchion.v1.RetryPolicy`.
///
/// Only an attempt the executor classified `retryable`, or one lost with its
/// node, is tried again; a job the host stopped (cancel or timeout) never is.
///
/// Threading: a value; safe anywhere.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Most attempts a policy may allow.
    public static let attemptLimit: UInt32 = 1_000

    /// Attempts in total, the first included; 0 means 1 (as in the schema).
    public var maxAttempts: UInt32
    /// Wait between attempts, in milliseconds.
    public var backoffMillis: UInt64

    /// Creates a policy.
    public init(maxAttempts: UInt32 = 1, backoffMillis: UInt64 = 0) {
        self.maxAttempts = maxAttempts
        self.backoffMillis = backoffMillis
    }

    /// Tried once, never again.
    public static let never = RetryPolicy()

    /// Attempts in total, with the schema's 0 read as 1.
    public var attempts: UInt32 { max(maxAttempts, 1) }

    /// Whether attempt number `attempt` (1 for the first) that ended with
    /// `outcome` may be followed by another.
    public func retries(after attempt: UInt32, ended outcome: AttemptEnd) -> Bool {
        guard attempt < attempts else { return false }
        switch outcome {
        case .exited(let verdict): return verdict == .retryable
        case .lost: return true
        case .stoppedByHost: return false
        }
    }

    /// Checks the policy and throws the first problem found.
    public func validate() throws(JobSpecError) {
        if maxAttempts > Self.attemptLimit {
            throw .invalidField("retry.maxAttempts", expected: "at most \(Self.attemptLimit)", found: "\(maxAttempts)")
        }
    }
}

/// How one attempt ended, as far as retrying is concerned.
public enum AttemptEnd: Sendable, Hashable {
    /// The process exited and the executor classified it.
    case exited(ExitClass)
    /// Its node went down while it ran.
    case lost
    /// The host stopped it (cancel or timeout).
    case stoppedByHost(HostStop)
}
