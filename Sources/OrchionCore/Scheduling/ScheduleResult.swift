/// A placement a strategy proposed that the host refused.
///
/// Threading: a value; safe anywhere.
public struct InvalidPlacement: Sendable, Hashable, CustomStringConvertible {
    /// The job it was for.
    public let jobID: String
    /// The strategy that proposed it.
    public let strategy: String
    /// What the fit rule found wrong.
    public let problem: PlacementRejection

    /// Creates a record of a refused placement.
    public init(jobID: String, strategy: String, problem: PlacementRejection) {
        self.jobID = jobID
        self.strategy = strategy
        self.problem = problem
    }

    public var description: String { "\(strategy) placed job \(jobID) invalidly: \(problem)" }
}

/// A scheduling call that failed as a whole (the strategy returned an error
/// or could not be called): no job of the batch was placed.
///
/// Threading: a value; safe anywhere.
public struct ScheduleFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The strategy that failed.
    public let strategy: String
    /// What went wrong, in words.
    public let message: String

    /// Creates a failure record.
    public init(strategy: String, message: String) {
        self.strategy = strategy
        self.message = message
    }

    public var description: String { message }
}

/// What one scheduling round decided.
///
/// Threading: a value; safe anywhere.
public struct ScheduleResult: Sendable, Hashable {
    /// Jobs bound to nodes: only placements that passed every check.
    public var assignments: [Assignment] = []
    /// Jobs left pending, with the reason.
    public var pending: [String: String] = [:]
    /// Placements refused by the host; their jobs are in `pending` too.
    public var invalid: [InvalidPlacement] = []
    /// A failure of the whole call, if any.
    public var failure: ScheduleFailure?
    /// Who placed this round.
    public var strategy: String = ""
    /// How long the call that produced these answers took.
    public var duration: Duration = .zero
    /// Set on the round that quarantined the guarded strategy: the reason.
    public var quarantined: String?
    /// The strategy the batch asked for (the job's, or the default).
    public var requested: String = ""
    /// Why the built-in fallback placed this batch instead of `requested`
    /// (no such strategy installed, quarantined, over budget), or nil when
    /// `requested` placed it.
    public var fallbackReason: String?

    /// Whether the built-in fallback placed this batch.
    public var fellBack: Bool { fallbackReason != nil }

    /// Whether the fallback placed this batch and failed too: the call
    /// failed or left jobs pending. The server counts it in metrics and
    /// events.
    public var fallbackFailed: Bool { fallbackReason != nil && (failure != nil || !pending.isEmpty) }

    /// Creates an empty result.
    public init() {}
}
