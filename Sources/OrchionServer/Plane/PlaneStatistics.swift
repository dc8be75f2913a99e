import OrchionCore

/// Counts the plane keeps for `/metrics`.
///
/// Threading: a value; the plane keeps it on the loop thread.
struct PlaneStatistics {
    var submitted = 0
    var transitions = 0
    var heartbeats = 0
    var registrations = 0
    var healthChanges = 0
    var assignmentsSent = 0
    var ignoredAgentEvents = 0
    var planConflicts = 0
    var rounds = 0
    var fallbacks = 0
    var fallbackFailures = 0
    var lastRound: Duration = .zero
    var commits = 0
    var lastCommit: CommitReport?

    mutating func recordRound(_ duration: Duration) {
        rounds += 1
        lastRound = duration
    }

    mutating func recordPlacement(_ result: ScheduleResult) {
        if result.fellBack { fallbacks += 1 }
        if result.fallbackFailed { fallbackFailures += 1 }
    }

    mutating func recordCommit(_ report: CommitReport) {
        commits += 1
        lastCommit = report
    }
}
