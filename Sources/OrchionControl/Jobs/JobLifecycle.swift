import OrchionCore

/// The life of a job as a pure state machine: `(job, input) → (job, effects)`.
///
/// pending → scheduled → running → succeeded / failed / cancelled, with
/// `lost` when the node goes away; a failed or lost attempt goes back to
/// pending while its retry policy allows. Inputs about an attempt other than
/// the current one, or that its state does not allow, change nothing and say
/// why (`JobTransition.ignored`): a redelivered or late agent message can
/// never run an attempt twice or move a job backwards.
///
/// A cancel of a placed job is sent to its agent and the job keeps its state
/// until the agent confirms (or the node is lost, which then ends the job
/// cancelled rather than retried).
///
/// Threading: pure functions; safe anywhere.
public enum JobLifecycle {
    /// How many lost attempts a job is retried after, whatever its policy.
    public static let lostAttemptLimit: UInt32 = 3

    /// Applies `input` to `job` at wall time `now`.
    public static func apply(_ input: JobInput, to job: inout JobRecord, now: Millis) -> JobTransition {
        switch input {
        case let .placed(node, gpus, strategy): place(&job, node, gpus, strategy, now)
        case let .unplaceable(summary, reasons): unplaceable(&job, summary, reasons, now)
        case let .acknowledged(number): acknowledge(&job, number)
        case let .started(number): start(&job, number, now)
        case let .ended(number, result): end(&job, number, result, now)
        case let .lost(number, reason): lose(&job, number, reason, now)
        case let .cancel(reason): cancel(&job, reason, now)
        case .retryDue: retryDue(&job, now)
        }
    }

    private static func place(
        _ job: inout JobRecord, _ node: String, _ gpus: [UInt32], _ strategy: String, _ now: Millis
    ) -> JobTransition {
        guard job.state == .pending else { return .ignoring("job \(job.id) is \(job.state), not pending") }
        guard job.retryAt == nil else { return .ignoring("job \(job.id) waits out its retry backoff") }
        let number = UInt32(clamping: job.attempts.count + 1)
        let attempt = AttemptRecord(number: number, nodeID: node, strategy: strategy, gpuIndices: gpus)
        job.attempts.append(attempt)
        job.pendingReasons = []
        let reason = "placed on \(node) by \(strategy)"
        var transition = move(&job, to: .scheduled, reason: reason, attempt: attempt, now)
        transition.effects.append(.assign(attempt))
        return transition
    }

    private static func unplaceable(
        _ job: inout JobRecord, _ summary: String, _ reasons: [PendingReason], _ now: Millis
    ) -> JobTransition {
        guard job.state == .pending else { return .ignoring("job \(job.id) is \(job.state), not pending") }
        guard job.reason != summary || job.pendingReasons != reasons else { return JobTransition() }
        job.pendingReasons = reasons
        // Not a change of state, but one a watcher wants to see once.
        return move(&job, to: .pending, reason: summary, attempt: nil, now)
    }

    private static func acknowledge(_ job: inout JobRecord, _ number: UInt32) -> JobTransition {
        guard var attempt = job.current, attempt.number == number, attempt.isActive else {
            return .ignoring("attempt \(number) of job \(job.id) is not in progress")
        }
        guard !attempt.acknowledged else {
            return .ignoring("attempt \(number) of job \(job.id) was acknowledged already")
        }
        attempt.acknowledged = true
        job.attempts[job.attempts.count - 1] = attempt
        var transition = JobTransition()
        transition.changed = true
        return transition
    }

    private static func start(_ job: inout JobRecord, _ number: UInt32, _ now: Millis) -> JobTransition {
        guard var attempt = job.current, attempt.number == number else {
            return .ignoring("attempt \(number) is not the current attempt of job \(job.id)")
        }
        switch (job.state, attempt.state) {
        case (.scheduled, .scheduled):
            break
        case (.running, .running):
            guard attempt.acknowledged else { return acknowledge(&job, number) }
            return .ignoring("attempt \(number) of job \(job.id) runs already")
        case (.pending, .lost) where job.cancelReason == nil:
            // Its node came back with it still running before another attempt
            // was placed: adopt it rather than start it again.
            job.retryAt = nil
            attempt.state = .scheduled
            attempt.finishedAt = nil
            attempt.reason = ""
            job.attempts[job.attempts.count - 1] = attempt
            var transition = JobTransition()
            transition.effects += [.dequeue, .reserve(attempt)]
            // Through scheduled, so the event stream shows only allowed moves.
            let reason = "attempt \(number) still runs on \(attempt.nodeID): adopted"
            transition.effects += move(&job, to: .scheduled, reason: reason, attempt: attempt, now).effects
            let adopted = start(&job, number, now)
            transition.effects += adopted.effects
            transition.changed = true
            return transition
        default:
            return .ignoring("attempt \(number) of job \(job.id) cannot start: it is \(attempt.state)")
        }
        attempt.state = .running
        attempt.acknowledged = true
        attempt.startedAt = attempt.startedAt ?? now
        job.attempts[job.attempts.count - 1] = attempt
        return move(&job, to: .running, reason: "running on \(attempt.nodeID)", attempt: attempt, now)
    }

    private static func end(
        _ job: inout JobRecord, _ number: UInt32, _ result: AttemptResult, _ now: Millis
    ) -> JobTransition {
        guard [.succeeded, .failed, .cancelled].contains(result.state) else {
            return .ignoring("an attempt cannot end \(result.state)")
        }
        var transition = JobTransition()
        if let lost = job.current, lost.number == number, lost.state == .lost, job.state == .pending {
            // Its node came back and says how the attempt ended, before another
            // was placed: take that rather than run the job again.
            transition = start(&job, number, now)
        }
        guard let current = job.current, current.number == number, current.isActive else {
            return .ignoring("attempt \(number) of job \(job.id) is not in progress")
        }
        if job.state == .scheduled, result.state == .succeeded {
            // The agent answers a redelivered assignment with the state its
            // attempt is in: a success can come for an attempt whose start
            // was never heard. It ran (and a job cannot succeed unstarted).
            transition = start(&job, number, now)
        }
        var attempt = job.current ?? current
        attempt.state = result.state
        attempt.finishedAt = now
        attempt.exitCode = result.exitCode
        attempt.signal = result.signal
        attempt.reason = result.reason
        job.attempts[job.attempts.count - 1] = attempt
        transition.effects.append(.release(attempt))
        let next: JobTransition
        switch result.state {
        case .succeeded:
            next = move(&job, to: .succeeded, reason: result.reason.orElse("exited 0"), attempt: attempt, now)
        case .cancelled:
            next = move(
                &job, to: .cancelled, reason: job.cancelReason ?? result.reason.orElse("cancelled on its node"),
                attempt: attempt, now)
        default:
            if let cancel = job.cancelReason {
                // The stop ends the process, which its executor may call a
                // failure (even a retryable one): the user's cancel ends the job.
                next = move(&job, to: .cancelled, reason: cancel, attempt: attempt, now)
            } else {
                next = retryOrFail(&job, attempt, end: result.end, why: failure(result), now)
            }
        }
        transition.effects += next.effects
        transition.changed = true
        return transition.withExit(result.exitCode, result.signal)
    }

    private static func lose(_ job: inout JobRecord, _ number: UInt32, _ reason: String, _ now: Millis)
        -> JobTransition
    {
        guard var attempt = job.current, attempt.number == number, attempt.isActive else {
            return .ignoring("attempt \(number) of job \(job.id) is not in progress")
        }
        attempt.state = .lost
        attempt.finishedAt = now
        attempt.reason = reason
        job.attempts[job.attempts.count - 1] = attempt
        var transition = move(&job, to: .lost, reason: reason, attempt: attempt, now)
        transition.effects.insert(.release(attempt), at: 0)
        if let cancel = job.cancelReason {
            transition.effects += move(&job, to: .cancelled, reason: cancel, attempt: attempt, now).effects
        } else {
            transition.effects += retryOrFail(&job, attempt, end: .lost, why: reason, now).effects
        }
        return transition
    }

    private static func cancel(_ job: inout JobRecord, _ reason: String, _ now: Millis) -> JobTransition {
        let why = reason.isEmpty ? "cancelled by a user" : reason
        switch job.state {
        case .pending, .lost:
            var transition = move(&job, to: .cancelled, reason: why, attempt: nil, now)
            transition.effects.insert(.dequeue, at: 0)
            job.retryAt = nil
            return transition
        case .scheduled, .running:
            guard job.cancelReason == nil, let attempt = job.current else { return JobTransition() }
            job.cancelReason = why
            job.updatedAt = now
            var transition = JobTransition()
            transition.changed = true
            transition.effects.append(.stop(attempt, reason: why))
            return transition
        case .succeeded, .failed, .cancelled:
            return .ignoring("job \(job.id) already \(job.state)")
        }
    }

    private static func retryDue(_ job: inout JobRecord, _ now: Millis) -> JobTransition {
        guard job.state == .pending, let due = job.retryAt else {
            return .ignoring("job \(job.id) is \(job.state) and waits out no retry backoff")
        }
        guard due <= now else { return .ignoring("job \(job.id) retries at \(due), not before") }
        job.retryAt = nil
        job.updatedAt = now
        var transition = JobTransition()
        transition.changed = true
        transition.effects.append(.enqueue)
        return transition
    }

    /// After a failed or lost attempt: pending again (after the backoff) when
    /// the policy allows another attempt, else failed.
    private static func retryOrFail(
        _ job: inout JobRecord, _ attempt: AttemptRecord, end: AttemptEnd, why: String, _ now: Millis
    ) -> JobTransition {
        let policy = job.spec.retry
        // A lost attempt is the node's fault, not the job's: it does not count
        // against the policy, up to `lostAttemptLimit` losses.
        let losses = UInt32(clamping: job.attempts.count { $0.state == .lost })
        let counted = attempt.number > losses ? attempt.number - losses : 1
        let retries =
            end == .lost
            ? losses <= lostAttemptLimit : policy.retries(after: counted, ended: end)
        guard retries else {
            let tries = attempt.number == 1 ? "" : " (after \(attempt.number) attempts)"
            return move(&job, to: .failed, reason: why + tries, attempt: attempt, now)
        }
        let backoff = Millis(clamping: policy.backoffMillis)
        let wait = backoff > 0 ? "in \(Duration.milliseconds(backoff).formatted)" : "now"
        let budget =
            end == .lost
            ? "lost attempts do not count against the retry policy"
            : "attempt \(counted + 1) of \(policy.attempts)"
        let reason = "attempt \(attempt.number) \(why); retrying \(wait) (\(budget))"
        var transition = move(&job, to: .pending, reason: reason, attempt: attempt, now)
        if backoff > 0 {
            job.retryAt = now.addingReportingOverflow(backoff).overflow ? .max : now + backoff
        }
        transition.effects.append(.enqueue)
        return transition
    }

    private static func failure(_ result: AttemptResult) -> String {
        if result.timedOut { return result.reason.orElse("timed out") }
        if result.signal != 0 { return result.reason.orElse("killed by signal \(result.signal)") }
        return result.reason.orElse("exited \(result.exitCode)")
    }

    /// Moves the job to `state` (checked against the allowed successors; a
    /// pending job may also stay pending with a new reason) and emits the event.
    private static func move(
        _ job: inout JobRecord, to state: JobState, reason: String, attempt: AttemptRecord?, _ now: Millis
    ) -> JobTransition {
        guard state == job.state && state == .pending || job.state.canMove(to: state) else {
            return .ignoring("job \(job.id) cannot move from \(job.state) to \(state)")
        }
        job.state = state
        job.reason = reason
        job.updatedAt = now
        if state.isTerminal { job.cancelReason = nil }
        var transition = JobTransition()
        transition.changed = true
        transition.effects.append(
            .event(
                JobChange(
                    jobID: job.id, state: state, attempt: attempt?.number ?? 0, nodeID: attempt?.nodeID ?? "",
                    reason: reason, at: now)))
        return transition
    }
}

extension JobTransition {
    /// Puts the process's exit code and signal on every event of the transition.
    fileprivate func withExit(_ code: Int64, _ signal: Int32) -> JobTransition {
        var copy = self
        copy.effects = effects.map {
            guard case .event(var change) = $0 else { return $0 }
            change.exitCode = code
            change.signal = signal
            return .event(change)
        }
        return copy
    }
}

extension String {
    fileprivate func orElse(_ fallback: String) -> String { isEmpty ? fallback : self }
}

extension Duration {
    /// "2s", "1.5s", "250ms", "3m": how reasons and messages write a duration.
    public var formatted: String {
        let millis = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if millis < 1000 { return "\(millis)ms" }
        if millis % 60_000 == 0 { return "\(millis / 60_000)m" }
        if millis % 1000 == 0 { return "\(millis / 1000)s" }
        return "\(Double(millis) / 1000)s"
    }
}
