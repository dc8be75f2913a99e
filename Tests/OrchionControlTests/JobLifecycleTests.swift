import OrchionControl
import OrchionCore
import Testing

/// A job driven through `JobLifecycle` on a clock that only moves forward.
private struct Driver {
    var job: JobRecord
    var now: Millis = 1_000

    init(retry: RetryPolicy = .never) {
        let spec = JobSpec(id: "j1", argv: ["/bin/true"], retry: retry)
        job = JobRecord(spec: spec, requestID: "r1", order: 7, now: 1_000)
    }

    /// Applies `input` `millis` after the previous input.
    @discardableResult
    mutating func apply(_ input: JobInput, after millis: Millis = 0) -> JobTransition {
        now += millis
        return JobLifecycle.apply(input, to: &job, now: now)
    }

    /// Places the next attempt on `node` and starts it.
    mutating func run(on node: String = "n1", sourceLocation: SourceLocation = #_sourceLocation) {
        apply(.placed(nodeID: node, gpuIndices: [], strategy: "spread"), after: 10)
        apply(.started(attempt: UInt32(job.attempts.count)), after: 10)
        #expect(job.state == .running, sourceLocation: sourceLocation)
    }

    /// Applies `input` and expects it refused: a reason, no effects, nothing changed.
    mutating func expectIgnored(_ input: JobInput, sourceLocation: SourceLocation = #_sourceLocation) {
        let before = job
        let transition = apply(input, after: 1)
        #expect(transition.ignored != nil, "\(input) was not refused", sourceLocation: sourceLocation)
        #expect(transition.effects.isEmpty, "\(input): \(transition.effects)", sourceLocation: sourceLocation)
        #expect(!transition.changed, "\(input) changed the job", sourceLocation: sourceLocation)
        #expect(job == before, "\(input) changed the job", sourceLocation: sourceLocation)
    }
}

private func events(_ transition: JobTransition) -> [JobChange] {
    transition.effects.compactMap { effect in
        guard case .event(let change) = effect else { return nil }
        return change
    }
}

private func change(
    _ state: JobState, attempt: UInt32, node: String, _ reason: String, at: Millis, exit: Int64 = 0, signal: Int32 = 0
) -> JobChange {
    var change = JobChange(jobID: "j1", state: state, attempt: attempt, nodeID: node, reason: reason, at: at)
    change.exitCode = exit
    change.signal = signal
    return change
}

@Suite struct JobLifecycleTests {
    // MARK: The happy path

    @Test func placeAcknowledgeStartSucceedEmitsOneEventPerStateWithTheAssignmentAndRelease() throws {
        var driver = Driver()
        #expect(driver.job.state == .pending)
        #expect(driver.job.reason == "waiting for a node")

        let placed = driver.apply(.placed(nodeID: "n1", gpuIndices: [0, 2], strategy: "gpu-affinity"), after: 10)
        let attempt = try #require(driver.job.current)
        #expect(attempt == AttemptRecord(number: 1, nodeID: "n1", strategy: "gpu-affinity", gpuIndices: [0, 2]))
        #expect(driver.job.state == .scheduled)
        #expect(driver.job.reason == "placed on n1 by gpu-affinity")
        #expect(placed.changed && placed.ignored == nil)
        #expect(
            placed.effects == [
                .event(change(.scheduled, attempt: 1, node: "n1", "placed on n1 by gpu-affinity", at: 1_010)),
                .assign(attempt),
            ])

        let acknowledged = driver.apply(.acknowledged(attempt: 1), after: 5)
        #expect(acknowledged.changed && acknowledged.ignored == nil && acknowledged.effects.isEmpty)
        #expect(driver.job.current?.acknowledged == true)
        #expect(driver.job.state == .scheduled)

        let started = driver.apply(.started(attempt: 1), after: 5)
        #expect(driver.job.state == .running)
        #expect(driver.job.current?.state == .running)
        #expect(driver.job.current?.startedAt == 1_020)
        #expect(started.changed)
        #expect(started.effects == [.event(change(.running, attempt: 1, node: "n1", "running on n1", at: 1_020))])

        let ended = driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)), after: 100)
        let finished = try #require(driver.job.current)
        #expect(finished.state == .succeeded)
        #expect(finished.finishedAt == 1_120)
        #expect(driver.job.state == .succeeded)
        #expect(driver.job.reason == "exited 0")
        #expect(driver.job.updatedAt == 1_120)
        #expect(driver.job.activeAttempt == nil)
        #expect(
            ended.effects == [
                .release(finished), .event(change(.succeeded, attempt: 1, node: "n1", "exited 0", at: 1_120)),
            ])
    }

    @Test func aStartWithoutAnAcknowledgementCountsAsOne() {
        var driver = Driver()
        driver.apply(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        driver.apply(.started(attempt: 1))
        #expect(driver.job.current?.acknowledged == true)
        #expect(driver.job.state == .running)
    }

    @Test func anAgentsReasonForSuccessIsKept() {
        var driver = Driver()
        driver.run()
        let ended = driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded, reason: "all done")))
        #expect(driver.job.reason == "all done")
        #expect(events(ended).map(\.reason) == ["all done"])
    }

    /// The agent answers a redelivered assignment with the state the attempt
    /// is in, so the server can hear SUCCEEDED for an attempt it never saw
    /// start: the job must still end, not stay scheduled with an ended attempt.
    @Test func aSuccessReportedBeforeAnyStartEndsTheJob() throws {
        var driver = Driver()
        driver.apply(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        let ended = driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)), after: 50)
        #expect(driver.job.state == .succeeded)
        #expect(driver.job.activeAttempt == nil)
        #expect(ended.changed)
        #expect(events(ended).last == change(.succeeded, attempt: 1, node: "n1", "exited 0", at: 1_050))
        #expect(ended.effects.filter { if case .release = $0 { true } else { false } }.count == 1)
    }

    @Test func aFailureToStartFromScheduledEndsTheJobFailed() {
        var driver = Driver()
        driver.apply(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        let result = AttemptResult(state: .failed, exitCode: 127, reason: "no such program: /bin/true")
        let ended = driver.apply(.ended(attempt: 1, result), after: 5)
        #expect(driver.job.state == .failed)
        #expect(driver.job.reason == "no such program: /bin/true")
        #expect(events(ended).map(\.state) == [.failed])
        #expect(events(ended).map(\.exitCode) == [127])
    }

    // MARK: Failures, retries and backoff

    @Test func aRetryableFailureWaitsOutItsBackoffThenIsPlacedAgainUntilAttemptsRunOut() throws {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3, backoffMillis: 2_000))
        driver.run()
        let failure = AttemptResult(state: .failed, exitCode: 3, retryable: true)
        let first = driver.apply(.ended(attempt: 1, failure), after: 100)
        let failed = try #require(driver.job.attempts.first)
        let reason = "attempt 1 exited 3; retrying in 2s (attempt 2 of 3)"
        #expect(failed.state == .failed)
        #expect(failed.exitCode == 3)
        #expect(driver.job.state == .pending)
        #expect(driver.job.reason == reason)
        #expect(driver.job.retryAt == driver.now + 2_000)
        #expect(
            first.effects == [
                .release(failed), .event(change(.pending, attempt: 1, node: "n1", reason, at: driver.now, exit: 3)),
                .enqueue,
            ])

        // Not placed, nor due, before its time.
        driver.expectIgnored(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
        let retryAt = try #require(driver.job.retryAt)
        driver.now = retryAt - 2
        driver.expectIgnored(.retryDue)
        #expect(driver.job.retryAt == retryAt)

        let due = driver.apply(.retryDue, after: 1)
        #expect(due.changed)
        #expect(due.effects == [.enqueue])
        #expect(driver.job.retryAt == nil)
        #expect(driver.job.state == .pending)
        // A second due is nothing to do.
        let again = driver.apply(.retryDue, after: 1)
        #expect(again.effects.isEmpty && !again.changed)

        driver.run(on: "n2")
        #expect(driver.job.current?.number == 2)
        driver.apply(.ended(attempt: 2, failure), after: 100)
        #expect(driver.job.reason == "attempt 2 exited 3; retrying in 2s (attempt 3 of 3)")
        driver.apply(.retryDue, after: 2_000)
        driver.run(on: "n3")

        let last = driver.apply(.ended(attempt: 3, failure), after: 100)
        #expect(driver.job.state == .failed)
        #expect(driver.job.reason == "exited 3 (after 3 attempts)")
        #expect(driver.job.retryAt == nil)
        #expect(driver.job.attempts.map(\.number) == [1, 2, 3])
        #expect(driver.job.attempts.map(\.nodeID) == ["n1", "n2", "n3"])
        #expect(!last.effects.contains(.enqueue))
        #expect(events(last) == [change(.failed, attempt: 3, node: "n3", driver.job.reason, at: driver.now, exit: 3)])
    }

    @Test(arguments: [
        (UInt64(0), "now"), (250, "in 250ms"), (1_500, "in 1.5s"), (2_000, "in 2s"), (180_000, "in 3m"),
        (90_500, "in 90.5s"), (60_000, "in 1m"), (61_000, "in 61s"), (999, "in 999ms"),
    ])
    func theRetryReasonSaysWhenAndWhichAttemptComesNext(backoff: UInt64, when: String) {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 4, backoffMillis: backoff))
        driver.run()
        driver.apply(.ended(attempt: 1, AttemptResult(state: .failed, exitCode: 1, retryable: true)))
        #expect(driver.job.reason == "attempt 1 exited 1; retrying \(when) (attempt 2 of 4)")
        #expect(driver.job.retryAt == (backoff == 0 ? nil : driver.now + Millis(backoff)))
    }

    @Test func withoutBackoffTheRetryIsPlaceableAtOnce() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2))
        driver.run()
        let ended = driver.apply(.ended(attempt: 1, AttemptResult(state: .failed, exitCode: 1, retryable: true)))
        #expect(ended.effects.last == .enqueue)
        #expect(driver.job.retryAt == nil)
        let placed = driver.apply(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
        #expect(placed.ignored == nil)
        #expect(driver.job.current?.number == 2)
    }

    @Test func aBackoffPastTheEndOfTimeSaturatesInsteadOfOverflowing() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2, backoffMillis: .max))
        driver.run()
        driver.apply(.ended(attempt: 1, AttemptResult(state: .failed, retryable: true)))
        #expect(driver.job.state == .pending)
        #expect(driver.job.retryAt == .max)
        driver.expectIgnored(.retryDue)
    }

    @Test func aFailureTheExecutorDoesNotCallRetryableEndsTheJobWithAttemptsLeft() throws {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 5))
        driver.run()
        let ended = driver.apply(.ended(attempt: 1, AttemptResult(state: .failed, exitCode: 1)), after: 7)
        let attempt = try #require(driver.job.current)
        #expect(driver.job.state == .failed)
        #expect(driver.job.reason == "exited 1")
        #expect(
            ended.effects == [
                .release(attempt), .event(change(.failed, attempt: 1, node: "n1", "exited 1", at: driver.now, exit: 1)),
            ])
    }

    @Test func eventsCarryTheExitCodeAndSignalAndTheReasonNamesTheSignal() throws {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2))
        driver.run()
        let killed = AttemptResult(state: .failed, exitCode: 137, signal: 9, retryable: true)
        let retried = driver.apply(.ended(attempt: 1, killed))
        #expect(driver.job.reason == "attempt 1 killed by signal 9; retrying now (attempt 2 of 2)")
        #expect(events(retried).map(\.exitCode) == [137])
        #expect(events(retried).map(\.signal) == [9])
        #expect(driver.job.current?.signal == 9)
        #expect(driver.job.current?.exitCode == 137)

        driver.run(on: "n2")
        let oom = AttemptResult(state: .failed, exitCode: 137, signal: 9, reason: "out of memory", retryable: true)
        let failed = driver.apply(.ended(attempt: 2, oom))
        #expect(driver.job.state == .failed)
        #expect(driver.job.reason == "out of memory (after 2 attempts)")
        #expect(driver.job.current?.reason == "out of memory")
        #expect(
            events(failed) == [
                change(.failed, attempt: 2, node: "n2", driver.job.reason, at: driver.now, exit: 137, signal: 9)
            ]
        )
    }

    @Test(arguments: [true, false])
    func aTimeoutIsNeverRetried(retryable: Bool) {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.run()
        let timedOut = AttemptResult(state: .failed, signal: 15, retryable: retryable, timedOut: true)
        let ended = driver.apply(.ended(attempt: 1, timedOut))
        #expect(driver.job.state == .failed)
        #expect(driver.job.reason == "timed out")
        #expect(!ended.effects.contains(.enqueue))
        #expect(events(ended).map(\.signal) == [15])
    }

    // MARK: Lost attempts

    @Test func aLostAttemptIsRetriedAndTheNextLossWithNoAttemptLeftFailsTheJob() throws {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 1))
        driver.run()
        let lost = driver.apply(.lost(attempt: 1, reason: "node n1 down"), after: 50)
        let first = try #require(driver.job.attempts.first)
        let retry = "attempt 1 node n1 down; retrying now (lost attempts do not count against the retry policy)"
        #expect(first.state == .lost)
        #expect(first.finishedAt == driver.now)
        #expect(first.reason == "node n1 down")
        #expect(driver.job.state == .pending)
        #expect(driver.job.reason == retry)
        #expect(
            lost.effects == [
                .release(first), .event(change(.lost, attempt: 1, node: "n1", "node n1 down", at: driver.now)),
                .event(change(.pending, attempt: 1, node: "n1", retry, at: driver.now)), .enqueue,
            ])
        // Losses past the limit fail the job.
        for number in 2...JobLifecycle.lostAttemptLimit + 1 {
            driver.run(on: "n\(number)")
            driver.apply(.lost(attempt: number, reason: "node n\(number) down"), after: 50)
        }
        let last = JobLifecycle.lostAttemptLimit + 1
        #expect(driver.job.state == .failed)
        #expect(driver.job.reason == "node n\(last) down (after \(last) attempts)")
    }

    @Test func aLostAttemptDoesNotUseUpTheRetryPolicy() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2))
        driver.run()
        driver.apply(.lost(attempt: 1, reason: "node n1 down"))
        driver.run(on: "n2")
        let failed = driver.apply(.ended(attempt: 2, AttemptResult(state: .failed, exitCode: 1, retryable: true)))
        #expect(driver.job.state == .pending, "the failure is the first counted attempt of two")
        #expect(events(failed).last?.reason == "attempt 2 exited 1; retrying now (attempt 2 of 2)")
        driver.run(on: "n3")
        driver.apply(.ended(attempt: 3, AttemptResult(state: .failed, exitCode: 1, retryable: true)))
        #expect(driver.job.state == .failed)
    }

    @Test func anAttemptLostBeforeItStartedIsRetriedToo() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2, backoffMillis: 1_000))
        driver.apply(.placed(nodeID: "n1", gpuIndices: [1], strategy: "spread"))
        let lost = driver.apply(.lost(attempt: 1, reason: "node n1 down"), after: 5)
        #expect(events(lost).map(\.state) == [.lost, .pending])
        #expect(driver.job.state == .pending)
        #expect(driver.job.retryAt == driver.now + 1_000)
        #expect(lost.effects.last == .enqueue)
    }

    // MARK: Cancel

    @Test func cancellingAPendingJobDequeuesItAndEndsIt() {
        var driver = Driver()
        let cancelled = driver.apply(.cancel(reason: ""), after: 3)
        #expect(driver.job.state == .cancelled)
        #expect(driver.job.reason == "cancelled by a user")
        #expect(
            cancelled.effects == [
                .dequeue, .event(change(.cancelled, attempt: 0, node: "", "cancelled by a user", at: 1_003)),
            ])

        var other = Driver()
        other.apply(.cancel(reason: "superseded by j2"))
        #expect(other.job.reason == "superseded by j2")
    }

    @Test func cancellingAJobInItsBackoffEndsItAndForgetsTheRetryTime() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2, backoffMillis: 60_000))
        driver.run()
        driver.apply(.ended(attempt: 1, AttemptResult(state: .failed, retryable: true)))
        #expect(driver.job.retryAt != nil)
        let cancelled = driver.apply(.cancel(reason: "enough"))
        #expect(driver.job.state == .cancelled)
        #expect(driver.job.retryAt == nil)
        #expect(cancelled.effects.first == .dequeue)
        #expect(events(cancelled).map(\.state) == [.cancelled])
        driver.expectIgnored(.retryDue)
    }

    /// A placed job keeps its state until the agent confirms the stop with
    /// CANCELLED; the cancel's reason is the job's final reason.
    @Test(arguments: [false, true])
    func cancellingAPlacedJobStopsItsAttemptAndTheAgentsConfirmationEndsIt(started: Bool) throws {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.apply(.placed(nodeID: "n1", gpuIndices: [0], strategy: "spread"))
        if started { driver.apply(.started(attempt: 1)) }
        let state = driver.job.state
        let attempt = try #require(driver.job.current)

        let cancel = driver.apply(.cancel(reason: "stop it"), after: 5)
        #expect(cancel.effects == [.stop(attempt, reason: "stop it")])
        #expect(cancel.changed)
        #expect(driver.job.state == state)
        #expect(driver.job.cancelReason == "stop it")
        #expect(driver.job.updatedAt == driver.now)

        // Asking again sends nothing more.
        let before = driver.job
        let again = driver.apply(.cancel(reason: "really"), after: 5)
        #expect(again.effects.isEmpty && !again.changed)
        #expect(driver.job == before)

        let confirmed = driver.apply(.ended(attempt: 1, AttemptResult(state: .cancelled, signal: 15)), after: 5)
        let ended = try #require(driver.job.current)
        #expect(ended.state == .cancelled)
        #expect(driver.job.state == .cancelled)
        #expect(driver.job.reason == "stop it")
        #expect(driver.job.cancelReason == nil)
        #expect(
            confirmed.effects == [
                .release(ended),
                .event(change(.cancelled, attempt: 1, node: "n1", "stop it", at: driver.now, signal: 15)),
            ])
    }

    @Test func aCancelledJobWhoseNodeIsLostEndsCancelledNotRetried() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.run()
        driver.apply(.cancel(reason: "stop it"))
        let lost = driver.apply(.lost(attempt: 1, reason: "node n1 down"), after: 5)
        #expect(driver.job.state == .cancelled)
        #expect(driver.job.reason == "stop it")
        #expect(driver.job.cancelReason == nil)
        #expect(events(lost).map(\.state) == [.lost, .cancelled])
        #expect(!lost.effects.contains(.enqueue))
        driver.expectIgnored(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
    }

    /// The stop is a SIGTERM: an executor may call the process it ended
    /// failed (even retryable). The user asked for a cancel; it is not retried.
    @Test func aCancelledJobWhoseProcessReportsAFailureEndsCancelledNotRetried() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.run()
        driver.apply(.cancel(reason: "stop it"))
        let killed = AttemptResult(state: .failed, exitCode: 143, signal: 15, retryable: true)
        let ended = driver.apply(.ended(attempt: 1, killed), after: 5)
        #expect(driver.job.state == .cancelled)
        #expect(driver.job.reason == "stop it")
        #expect(driver.job.cancelReason == nil)
        #expect(driver.job.current?.state == .failed)
        #expect(!ended.effects.contains(.enqueue))
        #expect(events(ended).map(\.state) == [.cancelled])
        #expect(events(ended).map(\.signal) == [15])
        driver.expectIgnored(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
    }

    @Test func aCancelledJobWhoseProcessSucceededAnywaySucceeds() {
        var driver = Driver()
        driver.run()
        driver.apply(.cancel(reason: "stop it"))
        driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)))
        #expect(driver.job.state == .succeeded)
        #expect(driver.job.cancelReason == nil)
    }

    @Test func anAttemptTheAgentCancelledOnItsOwnEndsTheJobWithTheAgentsReason() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.run()
        driver.apply(.ended(attempt: 1, AttemptResult(state: .cancelled, reason: "agent shutting down")))
        #expect(driver.job.state == .cancelled)
        #expect(driver.job.reason == "agent shutting down")

        var silent = Driver()
        silent.run()
        silent.apply(.ended(attempt: 1, AttemptResult(state: .cancelled)))
        #expect(silent.job.state == .cancelled)
        #expect(silent.job.reason == "cancelled on its node")
    }

    @Test func cancellingAFinishedJobIsRefused() {
        var succeeded = Driver()
        succeeded.run()
        succeeded.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)))
        succeeded.expectIgnored(.cancel(reason: ""))

        var failed = Driver()
        failed.run()
        failed.apply(.ended(attempt: 1, AttemptResult(state: .failed, exitCode: 1)))
        failed.expectIgnored(.cancel(reason: ""))

        var cancelled = Driver()
        cancelled.apply(.cancel(reason: ""))
        cancelled.expectIgnored(.cancel(reason: ""))
    }

    // MARK: Redelivered, late and stale inputs

    @Test func inputsAboutAnEarlierOrUnknownAttemptAreRefusedWithoutEffects() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.run()
        driver.apply(.ended(attempt: 1, AttemptResult(state: .failed, exitCode: 1, retryable: true)))
        driver.run(on: "n2")
        for attempt: UInt32 in [0, 1, 3, .max] {
            driver.expectIgnored(.acknowledged(attempt: attempt))
            driver.expectIgnored(.started(attempt: attempt))
            driver.expectIgnored(.ended(attempt: attempt, AttemptResult(state: .succeeded)))
            driver.expectIgnored(.ended(attempt: attempt, AttemptResult(state: .failed, retryable: true)))
            driver.expectIgnored(.lost(attempt: attempt, reason: "node down"))
        }
        #expect(driver.job.state == .running)
        #expect(driver.job.current?.number == 2)
    }

    @Test func aRedeliveredAcknowledgementOrStartIsRefusedWithoutEffects() {
        var driver = Driver()
        driver.apply(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        driver.apply(.acknowledged(attempt: 1))
        driver.expectIgnored(.acknowledged(attempt: 1))
        driver.apply(.started(attempt: 1))
        driver.expectIgnored(.started(attempt: 1))
        driver.expectIgnored(.acknowledged(attempt: 1))
        #expect(driver.job.state == .running)
    }

    /// Placing a job that is placed already would assign a second attempt
    /// while the first may run: refused in every state but pending.
    @Test func aPlacementOfAJobNotPendingIsRefusedSoNoAttemptIsAssignedTwice() {
        var driver = Driver()
        driver.apply(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        driver.expectIgnored(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        driver.apply(.started(attempt: 1))
        driver.expectIgnored(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
        driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)))
        driver.expectIgnored(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
        #expect(driver.job.attempts.count == 1)
    }

    @Test func lateInputsAfterTheEndChangeNothing() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 3))
        driver.run()
        driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)))
        driver.expectIgnored(.acknowledged(attempt: 1))
        driver.expectIgnored(.started(attempt: 1))
        driver.expectIgnored(.ended(attempt: 1, AttemptResult(state: .succeeded)))
        driver.expectIgnored(.ended(attempt: 1, AttemptResult(state: .failed, retryable: true)))
        driver.expectIgnored(.lost(attempt: 1, reason: "node n1 down"))
        driver.expectIgnored(.unplaceable(summary: "1 node: 1 is down", reasons: []))
        driver.expectIgnored(.cancel(reason: ""))
        #expect(driver.job.state == .succeeded)
    }

    @Test(arguments: [JobState.pending, .scheduled, .running, .lost])
    func anAttemptCannotEndInAStateThatIsNotAnEnd(state: JobState) {
        var driver = Driver()
        driver.run()
        driver.expectIgnored(.ended(attempt: 1, AttemptResult(state: state)))
    }

    // MARK: Adoption

    /// The node of a lost attempt comes back reporting it still runs before
    /// another attempt was placed: the job takes it back (out of the queue,
    /// its resources reserved again) instead of running it a second time.
    @Test func aLostAttemptReportedRunningBeforeAnyRetryIsAdopted() throws {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2, backoffMillis: 5_000))
        driver.apply(.placed(nodeID: "n1", gpuIndices: [3], strategy: "spread"), after: 10)
        driver.apply(.started(attempt: 1), after: 10)
        let startedAt = driver.now
        driver.apply(.lost(attempt: 1, reason: "node n1 down"), after: 1_000)
        #expect(driver.job.state == .pending)
        #expect(driver.job.retryAt != nil)

        let adopted = driver.apply(.started(attempt: 1), after: 500)
        #expect(adopted.changed && adopted.ignored == nil)
        #expect(adopted.effects.count == 4)
        #expect(adopted.effects.first == .dequeue)
        guard adopted.effects.count == 4, case .reserve(let reserved) = adopted.effects[1] else {
            Issue.record("expected a reserve second, found \(adopted.effects)")
            return
        }
        #expect(reserved.number == 1 && reserved.nodeID == "n1" && reserved.gpuIndices == [3])
        // Through scheduled: the event stream shows only moves a job may make.
        #expect(
            events(adopted) == [
                change(.scheduled, attempt: 1, node: "n1", "attempt 1 still runs on n1: adopted", at: driver.now),
                change(.running, attempt: 1, node: "n1", "running on n1", at: driver.now),
            ])

        let attempt = try #require(driver.job.current)
        #expect(driver.job.state == .running)
        #expect(driver.job.retryAt == nil)
        #expect(driver.job.attempts.count == 1)
        #expect(attempt.state == .running)
        #expect(attempt.isActive)
        #expect(attempt.startedAt == startedAt)
        #expect(attempt.finishedAt == nil)
        #expect(attempt.reason == "")

        driver.apply(.ended(attempt: 1, AttemptResult(state: .succeeded)), after: 10)
        #expect(driver.job.state == .succeeded)
        #expect(driver.job.attempts.count == 1)
    }

    @Test func aLostAttemptReportedRunningAfterItsRetryWasPlacedIsNotAdopted() {
        var driver = Driver(retry: RetryPolicy(maxAttempts: 2))
        driver.run()
        driver.apply(.lost(attempt: 1, reason: "node n1 down"))
        driver.apply(.placed(nodeID: "n2", gpuIndices: [], strategy: "spread"))
        driver.expectIgnored(.started(attempt: 1))
        #expect(driver.job.state == .scheduled)
        #expect(driver.job.current?.nodeID == "n2")
    }

    @Test func aLostAttemptReportedRunningAfterTheJobEndedIsNotAdopted() {
        var failed = Driver()
        for number in 1...JobLifecycle.lostAttemptLimit + 1 {
            failed.run(on: "n\(number)")
            failed.apply(.lost(attempt: number, reason: "node n\(number) down"))
        }
        #expect(failed.job.state == .failed)
        failed.expectIgnored(.started(attempt: JobLifecycle.lostAttemptLimit + 1))

        var cancelled = Driver(retry: RetryPolicy(maxAttempts: 2, backoffMillis: 5_000))
        cancelled.run()
        cancelled.apply(.lost(attempt: 1, reason: "node n1 down"))
        cancelled.apply(.cancel(reason: ""))
        #expect(cancelled.job.state == .cancelled)
        cancelled.expectIgnored(.started(attempt: 1))
    }

    // MARK: Unplaceable

    @Test func anUnplaceableJobEmitsAnEventOnlyWhenItsExplanationChanges() {
        var driver = Driver()
        let reasons = [
            PendingReason(reason: "lack a free GPU with ≥ 16 GiB", nodes: 2),
            PendingReason(reason: "is draining", nodes: 1),
        ]
        let summary = "3 nodes: 2 lack a free GPU with ≥ 16 GiB, 1 is draining"
        let first = driver.apply(.unplaceable(summary: summary, reasons: reasons), after: 10)
        #expect(first.changed)
        #expect(first.effects == [.event(change(.pending, attempt: 0, node: "", summary, at: 1_010))])
        #expect(driver.job.state == .pending)
        #expect(driver.job.reason == summary)
        #expect(driver.job.pendingReasons == reasons)

        let before = driver.job
        let same = driver.apply(.unplaceable(summary: summary, reasons: reasons), after: 10)
        #expect(same.effects.isEmpty && !same.changed)
        #expect(driver.job == before)

        let counts = [PendingReason(reason: "lack a free GPU with ≥ 16 GiB", nodes: 3)]
        let recounted = driver.apply(.unplaceable(summary: summary, reasons: counts), after: 10)
        #expect(events(recounted).map(\.reason) == [summary])
        #expect(driver.job.pendingReasons == counts)

        let other = driver.apply(.unplaceable(summary: "3 nodes: 3 are down", reasons: counts), after: 10)
        #expect(events(other).map(\.reason) == ["3 nodes: 3 are down"])

        driver.apply(.placed(nodeID: "n1", gpuIndices: [], strategy: "spread"))
        #expect(driver.job.pendingReasons.isEmpty)
        driver.expectIgnored(.unplaceable(summary: summary, reasons: reasons))
    }

    // MARK: Invariants over random inputs

    /// Thousands of jobs fed random inputs, in any order and about any
    /// attempt: after every input the job is consistent, a refused input
    /// changed nothing, each attempt is assigned at most once, resources are
    /// held by exactly the active attempt, and events follow the allowed moves.
    @Test func randomInputsKeepEveryJobConsistent() {
        var random = SeededGenerator(seed: 0x0_0C0_17B0)
        var assigned = 0
        var ended: [JobState: Int] = [:]
        for _ in 0..<2_000 {
            let policy = RetryPolicy(maxAttempts: UInt32(random.next(4)), backoffMillis: UInt64(random.next(3)) * 500)
            var driver = Driver(retry: policy)
            var assignedNumbers: Set<UInt32> = []
            var held: UInt32?
            for _ in 0..<40 {
                let input = randomInput(&random, attempts: driver.job.attempts.count)
                let before = driver.job
                let transition = driver.apply(input, after: Millis(random.next(3_000)))
                let context = { "\(input) on \(before)" }
                if transition.ignored != nil || !transition.changed {
                    #expect(transition.effects.isEmpty, "\(context()): \(transition.effects)")
                    #expect(driver.job == before, "\(context())")
                }
                if before.state.isTerminal { #expect(driver.job == before, "\(context())") }
                var state = before.state
                for effect in transition.effects {
                    switch effect {
                    case .assign(let attempt):
                        #expect(assignedNumbers.insert(attempt.number).inserted, "\(context()): assigned twice")
                        #expect(held == nil, "\(context()): assigned while attempt \(held ?? 0) holds resources")
                        held = attempt.number
                        assigned += 1
                    case .release(let attempt):
                        #expect(held == attempt.number, "\(context()): released \(attempt.number), held \(held ?? 0)")
                        held = nil
                    case .reserve(let attempt):
                        #expect(held == nil, "\(context()): reserved while holding")
                        held = attempt.number
                    case .event(let change):
                        #expect(
                            change.state == state && state == .pending || state.canMove(to: change.state),
                            "\(context()): event \(state) → \(change.state)")
                        state = change.state
                    case .stop(let attempt, _):
                        #expect(attempt.number == driver.job.current?.number, "\(context())")
                    case .enqueue:
                        #expect(driver.job.state == .pending, "\(context()): enqueued a \(driver.job.state) job")
                    case .dequeue:
                        break
                    }
                }
                #expect(state == driver.job.state, "\(context()): events end at \(state), job is \(driver.job.state)")
                checkConsistent(driver.job, held: held, policy: policy, context: context)
            }
            if driver.job.state.isTerminal { ended[driver.job.state, default: 0] += 1 }
        }
        // The generator reaches every end.
        #expect(assigned > 1_000)
        #expect(ended[.succeeded, default: 0] > 50)
        #expect(ended[.failed, default: 0] > 50)
        #expect(ended[.cancelled, default: 0] > 50)
    }

    private func randomInput(_ random: inout SeededGenerator, attempts: Int) -> JobInput {
        let attempt = UInt32(max(0, attempts - 1 + random.next(3)))
        switch random.next(10) {
        case 0: return .placed(nodeID: "n\(random.next(3))", gpuIndices: [], strategy: "spread")
        case 1: return .unplaceable(summary: "\(random.next(2) + 1) nodes: down", reasons: [])
        case 2: return .acknowledged(attempt: attempt)
        case 3: return .started(attempt: attempt)
        case 4, 5:
            let state: JobState = [.succeeded, .failed, .failed, .cancelled, .running][random.next(5)]
            let result = AttemptResult(
                state: state, exitCode: Int64(random.next(3)), retryable: random.next(2) == 0,
                timedOut: random.next(5) == 0)
            return .ended(attempt: attempt, result)
        case 6: return .lost(attempt: attempt, reason: "node down")
        case 7: return .cancel(reason: "")
        default: return .retryDue
        }
    }

    private func checkConsistent(_ job: JobRecord, held: UInt32?, policy: RetryPolicy, context: () -> String) {
        #expect(job.state != .lost, "\(context()): left lost")
        let placed = job.state == .scheduled || job.state == .running
        #expect(
            placed == (job.activeAttempt != nil),
            "\(context()): \(job.state) with attempt \(String(describing: job.current))")
        if placed { #expect(job.current?.state == job.state, "\(context())") }
        #expect(held == job.activeAttempt?.number, "\(context()): resources held by \(held ?? 0)")
        let losses = job.attempts.count { $0.state == .lost }
        #expect(losses <= Int(JobLifecycle.lostAttemptLimit) + 1, "\(context()): more losses than allowed")
        #expect(job.attempts.count - losses <= Int(policy.attempts), "\(context()): more attempts than allowed")
        #expect(job.attempts.map(\.number) == (0..<job.attempts.count).map { UInt32($0 + 1) }, "\(context())")
        if job.retryAt != nil { #expect(job.state == .pending, "\(context()): retry time on a \(job.state) job") }
        if job.cancelReason != nil { #expect(placed, "\(context()): cancel pending on a \(job.state) job") }
        for attempt in job.attempts.dropLast() {
            #expect(!attempt.isActive, "\(context()): an earlier attempt is active")
        }
    }
}
