import OrchionCore
import Testing

@Suite struct JobStateTests {
    @Test func followsTheLifeCycleAndRefusesTheRest() throws {
        var state = JobState.pending
        for next: JobState in [.scheduled, .running, .lost, .pending, .scheduled, .running, .succeeded] {
            state = try state.moved(to: next)
        }
        #expect(state == .succeeded && state.isTerminal)
        #expect(throws: JobStateError(from: .succeeded, to: .running)) { try JobState.succeeded.moved(to: .running) }
        #expect(
            JobStateError(from: .succeeded, to: .running).description
                == "a succeeded job cannot become running: expected no change (succeeded is final)")
        #expect(
            JobStateError(from: .pending, to: .running).description
                == "a pending job cannot become running: expected scheduled, cancelled")
    }

    @Test func onlySucceededFailedAndCancelledAreFinal() {
        #expect(JobState.allCases.filter(\.isTerminal) == [.succeeded, .failed, .cancelled])
        for state in JobState.allCases {
            #expect(state.isTerminal == state.successors.isEmpty, "\(state)")
            #expect(!state.canMove(to: state), "\(state) moves to itself")
        }
    }

    @Test func mirrorsTheSchemaEnumInOrder() {
        // orchion.v1.JobState numbers these 1...7 (0 is UNSPECIFIED).
        #expect(
            JobState.allCases.map(\.rawValue)
                == ["pending", "scheduled", "running", "succeeded", "failed", "cancelled", "lost"])
    }
}

@Suite struct RetryPolicyTests {
    @Test func retriesOnlyRetryableOrLostAttemptsWhileAttemptsRemain() {
        let policy = RetryPolicy(maxAttempts: 3, backoffMillis: 1_000)
        #expect(policy.retries(after: 1, ended: .exited(.retryable)))
        #expect(policy.retries(after: 2, ended: .lost))
        #expect(!policy.retries(after: 3, ended: .exited(.retryable)), "the third attempt was the last")
        #expect(!policy.retries(after: 1, ended: .exited(.failed)))
        #expect(!policy.retries(after: 1, ended: .exited(.succeeded)))
        #expect(!policy.retries(after: 1, ended: .stoppedByHost(.cancelled)))
        #expect(!policy.retries(after: 1, ended: .stoppedByHost(.timedOut)))
    }

    @Test func zeroAttemptsMeansOneAsInTheSchema() {
        #expect(RetryPolicy(maxAttempts: 0).attempts == 1)
        #expect(!RetryPolicy(maxAttempts: 0).retries(after: 1, ended: .exited(.retryable)))
    }
}

@Suite struct JobOutcomeTests {
    private func outcome(_ verdict: ExitClass, _ stop: HostStop?, code: Int64 = 0, signal: Int32 = 0) -> JobOutcome {
        JobOutcome(status: ExitStatus(code: code, signal: signal), stoppedBy: stop, verdict: verdict, reason: "r")
    }

    @Test func aHostStopWinsOverTheExecutorsVerdict() {
        #expect(outcome(.retryable, .cancelled).state == .cancelled)
        #expect(outcome(.retryable, .cancelled).end == .stoppedByHost(.cancelled))
        #expect(outcome(.succeeded, .timedOut).state == .failed)
        #expect(outcome(.retryable, .timedOut).end == .stoppedByHost(.timedOut))
        #expect(!RetryPolicy(maxAttempts: 5).retries(after: 1, ended: outcome(.retryable, .cancelled).end))
        // A kill at the memory limit the host set fails the attempt and is not retried.
        #expect(outcome(.retryable, .memoryLimit, signal: 9).state == .failed)
        #expect(outcome(.retryable, .memoryLimit, signal: 9).end == .stoppedByHost(.memoryLimit))
        #expect(!RetryPolicy(maxAttempts: 5).retries(after: 1, ended: .stoppedByHost(.memoryLimit)))
    }

    @Test func withoutAHostStopTheVerdictDecides() {
        #expect(outcome(.succeeded, nil).state == .succeeded)
        #expect(outcome(.failed, nil, code: 2).state == .failed)
        #expect(outcome(.retryable, nil, code: 75).state == .failed)
        #expect(outcome(.retryable, nil).end == .exited(.retryable))
        #expect(RetryPolicy(maxAttempts: 2).retries(after: 1, ended: outcome(.retryable, nil).end))
    }

    @Test func theTimedOutInitialiserRecordsATimeoutStop() {
        let killed = JobOutcome(status: ExitStatus(code: 0, signal: 9), timedOut: true, verdict: .failed, reason: "")
        #expect(killed.stoppedBy == .timedOut && killed.timedOut)
        #expect(
            !JobOutcome(status: ExitStatus(code: 0, signal: 0), timedOut: false, verdict: .succeeded, reason: "")
                .timedOut)
        #expect(ExitStatus(code: 0, signal: 9).description == "killed by signal 9")
        #expect(ExitStatus(code: 3, signal: 0).description == "exited with code 3")
    }
}

@Suite struct ScheduleTypesTests {
    @Test func describeRefusalsAndFailuresInWords() {
        let invalid = InvalidPlacement(
            jobID: "j1", strategy: "spread", problem: .gpuNamedTwice(node: "n1", index: 2))
        #expect(
            invalid.description
                == "spread placed job j1 invalidly: placement on node n1 names GPU 2 twice: expected distinct GPUs")
        #expect(ScheduleFailure(strategy: "s", message: "boom").description == "boom")
        #expect(PlacementAnswer.node(3) == .node(3, gpuIndices: []))
        #expect(Assignment(jobID: "j", nodeID: "n").gpuIndices.isEmpty)
        let empty = ScheduleResult()
        #expect(empty.assignments.isEmpty && empty.pending.isEmpty && empty.failure == nil && empty.strategy.isEmpty)
    }
}
