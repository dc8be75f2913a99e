import OrchionControl
import OrchionCore
import Testing

@Suite struct JobRecordTests {
    private let spec = JobSpec(id: "j9", argv: ["/bin/true"], retry: RetryPolicy(maxAttempts: 2))

    @Test func aNewJobIsPendingWithNoAttempt() {
        let job = JobRecord(spec: spec, requestID: nil, order: 3, now: 42)
        #expect(job.id == "j9")
        #expect(job.state == .pending)
        #expect(job.attempts.isEmpty)
        #expect(job.current == nil)
        #expect(job.activeAttempt == nil)
        #expect(job.createdAt == 42 && job.updatedAt == 42)
        #expect(job.order == 3)
        #expect(job.requestID == nil)
        #expect(job.retryAt == nil && job.cancelReason == nil)
        #expect(job.pendingReasons.isEmpty)
    }

    @Test func onlyAScheduledOrRunningLatestAttemptIsActive() {
        var first = AttemptRecord(number: 1, nodeID: "n1", strategy: "spread", gpuIndices: [])
        #expect(first.isActive)
        first.state = .running
        #expect(first.isActive)
        for state in [JobState.succeeded, .failed, .cancelled, .lost, .pending] {
            first.state = state
            #expect(!first.isActive, "\(state)")
        }
        let second = AttemptRecord(number: 2, nodeID: "n2", strategy: "spread", gpuIndices: [1], state: .running)
        let job = JobRecord(
            spec: spec, requestID: "r", order: 1, createdAt: 1, state: .running, attempts: [first, second],
            updatedAt: 2, reason: "running on n2", retryAt: nil, cancelReason: nil)
        #expect(job.current == second)
        #expect(job.activeAttempt == second)
    }

    /// A job reloaded after a restart carries on where it was: its running
    /// attempt lost with its node is retried with the attempts it has left.
    @Test func aReloadedJobCarriesOnFromItsStoredState() throws {
        var attempt = AttemptRecord(number: 1, nodeID: "n1", strategy: "spread", gpuIndices: [0], state: .running)
        attempt.startedAt = 10
        var job = JobRecord(
            spec: spec, requestID: "r", order: 5, createdAt: 1, state: .running, attempts: [attempt], updatedAt: 10,
            reason: "running on n1", retryAt: nil, cancelReason: nil)
        #expect(job.state == .running)
        #expect(job.requestID == "r")

        // Not acknowledged in the store: the agent's report that it runs counts as one.
        let acknowledged = JobLifecycle.apply(.started(attempt: 1), to: &job, now: 20)
        #expect(acknowledged.ignored == nil && acknowledged.changed && acknowledged.effects.isEmpty)
        #expect(job.current?.acknowledged == true)
        #expect(job.current?.startedAt == 10)

        let lost = JobLifecycle.apply(.lost(attempt: 1, reason: "node n1 did not come back"), to: &job, now: 30)
        #expect(job.state == .pending)
        #expect(lost.effects.last == .enqueue)
        let placed = JobLifecycle.apply(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"), to: &job, now: 40)
        #expect(placed.ignored == nil)
        #expect(try #require(job.current).number == 2)
    }

    @Test func aReloadedCancelKeepsWaitingForTheAgent() {
        let attempt = AttemptRecord(number: 1, nodeID: "n1", strategy: "spread", gpuIndices: [], state: .running)
        var job = JobRecord(
            spec: spec, requestID: nil, order: 5, createdAt: 1, state: .running, attempts: [attempt], updatedAt: 10,
            reason: "running on n1", retryAt: nil, cancelReason: "stop")
        let again = JobLifecycle.apply(.cancel(reason: "stop"), to: &job, now: 20)
        #expect(again.effects.isEmpty)
        let lost = JobLifecycle.apply(.lost(attempt: 1, reason: "node n1 down"), to: &job, now: 30)
        #expect(job.state == .cancelled)
        #expect(job.reason == "stop")
        #expect(!lost.effects.contains(.enqueue))
    }
}
