import OrchionControl
import OrchionCore
import OrchionProto

extension ControlPlane {
    /// Rebuilds the state from the store after a restart: every job as it was
    /// committed; nodes as suspect until their agents register again (their
    /// jobs are adopted then) or their TTL passes (their jobs are lost then).
    func reload(_ stored: StoredState) throws {
        let time = now()
        for storedNode in stored.nodes {
            guard let node = try? Orchion_V1_Node(serializedBytes: storedNode.record) else {
                ServerLog.error("stored node \(storedNode.id) is unreadable; it will register again")
                continue
            }
            let register = Orchion_V1_Register.with {
                $0.nodeID = node.id
                $0.hostname = node.hostname
                $0.capabilities = node.capabilities
                $0.labels = node.labels
                $0.capacity = node.capacity
            }
            var record = NodeRecord(
                node: Node(register), hostname: node.hostname, now: time,
                interval: settings.heartbeat.interval(nodes: stored.nodes.count))
            record.draining = node.state == .draining
            record.cordoned = node.cordoned
            _ = NodeLifecycle.apply(.disconnected, to: &record, now: time, policy: settings.heartbeat)
            nodes[node.id] = NodeEntry(
                record: record, capabilities: node.capabilities, registeredCapacity: node.capacity)
        }
        var unreadable = 0
        for storedJob in stored.jobs {
            guard let job = JobCodec.decode(storedJob) else {
                unreadable += 1
                continue
            }
            jobs[job.id] = job
            jobOrder.append(job.id)
            if let requestID = job.requestID { requestIndex[Self.requestKey(requestID, job.submittedBy)] = job.id }
            nextOrder = max(nextOrder, job.order + 1)
        }
        if unreadable > 0 { ServerLog.error("\(unreadable) stored jobs are unreadable and were left out") }
        jobOrder.sort { (jobs[$0]?.order ?? 0) < (jobs[$1]?.order ?? 0) }
        for id in jobOrder {
            guard let job = jobs[id] else { continue }
            if let attempt = job.activeAttempt {
                if nodes[attempt.nodeID] != nil {
                    nodeJobs[attempt.nodeID, default: []].insert(id)
                } else {
                    apply(.lost(attempt: attempt.number, reason: "its node \(attempt.nodeID) is unknown"), to: id)
                }
            } else if job.state == .pending {
                enqueue(job)
            }
        }
        for id in nodes.keys { reapplyAllocations(of: id) }
        for job in jobs.values { metrics.jobs(job.state).increment() }
        if !jobs.isEmpty || !nodes.isEmpty {
            ServerLog.info(
                "reloaded \(jobs.count) jobs and \(nodes.count) nodes; nodes are suspect until they register")
        }
    }
}
