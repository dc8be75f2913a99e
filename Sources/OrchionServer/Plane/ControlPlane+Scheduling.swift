import OrchionControl
import OrchionCore
import OrchionLoop
import OrchionPluginHost

extension ControlPlane {
    /// Runs a scheduling round soon (once per loop turn at most), unless one is in flight.
    func scheduleSoon() {
        guard !schedulingQueued, !schedulingInFlight else { return }
        schedulingQueued = true
        let plane = LoopBound(self, loop: loop)
        loop.execute { plane.wrapped.scheduleRound() }
    }

    /// Wakes the parked jobs that changed nodes could take, then sends the
    /// top of the queue to the strategies, one strategy's group at a time.
    private func scheduleRound() {
        schedulingQueued = false
        guard !schedulingInFlight else { return }
        wakeParkedJobs()
        guard !queue.isEmpty else { return }
        let batch = queue.pop(settings.batchSize).compactMap { id in
            jobs[id].flatMap { $0.state == .pending ? $0 : nil }
        }
        guard !batch.isEmpty else { return scheduleSoon() }
        guard nodes.values.contains(where: { $0.record.schedulable }) else {
            // No strategy can help: say why for each and wait for a node.
            for job in batch { park(job, declined: nil) }
            return scheduleSoon()
        }
        var groups: [String: [JobRecord]] = [:]
        var order: [String] = []
        for job in batch {
            let strategy = job.spec.strategy ?? settings.defaultStrategy
            if groups[strategy] == nil { order.append(strategy) }
            groups[strategy, default: []].append(job)
        }
        schedulingInFlight = true
        metrics.schedulingBatchSize.observe(Double(batch.count))
        placeGroups(order.map { ($0, groups[$0] ?? []) }, started: ContinuousClock.now)
    }

    private func placeGroups(_ groups: [(strategy: String, jobs: [JobRecord])], started: ContinuousClock.Instant) {
        guard let (strategy, group) = groups.first else {
            schedulingInFlight = false
            metrics.schedulingBatchSeconds.observe(since: started)
            metrics.queueDepth.set(queue.count + parked.count + retries.count)
            metrics.jobsParked.set(parked.count)
            if !queue.isEmpty || !changedNodes.isEmpty || parkedRetryDue { scheduleSoon() }
            return
        }
        let pending = group.map { PendingJob(id: $0.id, requirements: $0.spec.requirements) }
        let plane = LoopBound(self, loop: loop)
        scheduling.schedule(pending, strategy: strategy, completingOn: loop) { result in
            let plane = plane.wrapped
            plane.applyPlan(result, for: group)
            plane.placeGroups(Array(groups.dropFirst()), started: started)
        }
    }

    /// The plan applier: re-checks each placement against the nodes as they
    /// are now (other placements, heartbeats and node changes happened while
    /// the strategy ran) and reserves what still fits; what no longer fits
    /// goes back to the queue, what fits nowhere is explained and parked.
    private func applyPlan(_ result: ScheduleResult, for group: [JobRecord]) {
        let parkedBefore = parked.sequence
        metrics.pluginCallSeconds(result.strategy).observe(result.duration)
        if result.fellBack { metrics.schedulingFallbacks(result.requested).increment() }
        if result.fallbackFailed { metrics.schedulingFallbackFailures.increment() }
        var placed: Set<String> = []
        for assignment in result.assignments {
            guard let job = jobs[assignment.jobID], job.state == .pending, job.retryAt == nil,
                let entry = nodes[assignment.nodeID], entry.record.schedulable
            else { continue }
            let gpus: [UInt32]
            do throws(PlacementRejection) {
                gpus = try NodeLedger.check(
                    job.spec.requirements, on: entry.record.node, gpuIndices: assignment.gpuIndices)
            } catch {
                metrics.planConflicts.increment()
                continue
            }
            allocate(job.spec.requirements, gpus: gpus, on: assignment.nodeID, job: job.id)
            apply(.placed(nodeID: assignment.nodeID, gpuIndices: gpus, strategy: result.strategy), to: job.id)
            nodeChanged(assignment.nodeID, persist: false)
            placed.insert(job.id)
        }
        let proposed = Set(result.assignments.map(\.jobID))
        for job in group where !placed.contains(job.id) {
            guard let current = jobs[job.id], current.state == .pending, current.retryAt == nil else { continue }
            if proposed.contains(job.id) {
                // Placed by the strategy on a node that changed meanwhile: next round.
                queue.push(job.id, priority: job.spec.requirements.priority, order: job.order)
            } else {
                let why = result.pending[job.id] ?? result.failure?.message ?? "not placed"
                park(current, declined: (result, why))
            }
        }
        // Nothing placed and jobs parked: room their strategy left unused
        // goes to the jobs parked before them (each offered once).
        if placed.isEmpty && parked.sequence != parkedBefore {
            if parkedRetry == nil { parkedRetry = parkedBefore }
            parkedRetryDue = true
        }
    }

    /// Explains why `job` is not placed (the strategy's round and reason,
    /// when one declined it), records that on the job and parks it until a
    /// node it could fit on changes.
    private func park(_ job: JobRecord, declined: (result: ScheduleResult, reason: String)?) {
        let explanation = PendingExplanation(
            job.spec.requirements, nodes: nodes.values.lazy.map(\.record.node),
            declined: declined.map { ($0.result.strategy, $0.reason) })
        var summary = explanation.summary
        if let result = declined?.result, result.fallbackFailed, let why = result.fallbackReason {
            summary +=
                "; the fallback \(result.strategy) placed it instead of \(result.requested) (\(why)) and failed too"
        }
        apply(
            .unplaceable(
                summary: summary,
                reasons: explanation.reasons.map { PendingReason(reason: $0.reason, nodes: $0.nodes) }),
            to: job.id)
        parked.park(job.id, job.spec.requirements, order: job.order)
    }

    /// Moves parked jobs that changed nodes could now take back to the
    /// queue (no more than they can take together, oldest first); then, when
    /// a round placed nothing, offers the room on every node to the jobs
    /// parked before that round (`parkedRetry`), until none fits.
    private func wakeParkedJobs() {
        var woken: [String] = []
        if !changedNodes.isEmpty {
            let changed = changedNodes.compactMap { nodes[$0]?.record.node }
            changedNodes.removeAll(keepingCapacity: true)
            woken = parked.wake(fittingAnyOf: changed)
        }
        if parkedRetryDue, let before = parkedRetry {
            parkedRetryDue = false
            let retried = parked.wake(fittingAnyOf: nodes.values.map(\.record.node), parkedBefore: before)
            if retried.isEmpty { parkedRetry = nil }
            woken += retried
        }
        for id in woken {
            guard let job = jobs[id], job.state == .pending else { continue }
            queue.push(id, priority: job.spec.requirements.priority, order: job.order)
        }
    }

    /// Every parked job back to the queue (a strategy appeared or the default changed).
    func wakeAllParkedJobs() {
        parkedRetry = nil
        parkedRetryDue = false
        for id in parked.wakeAll() {
            guard let job = jobs[id], job.state == .pending else { continue }
            queue.push(id, priority: job.spec.requirements.priority, order: job.order)
        }
        scheduleSoon()
    }
}
