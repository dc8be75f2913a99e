import OrchionControl
import OrchionCore
import OrchionLoop
import OrchionMapping
import OrchionProto
import OrchionWire

extension ControlPlane {
    // MARK: Agents

    /// Registers (or re-registers) the node of a new agent stream; returns
    /// the session and the answer. Jobs the agent still runs are adopted when
    /// they are this node's current attempts; the others are to be stopped.
    /// A node whose stream is open and heard from within two heartbeat
    /// intervals is refused (ALREADY_EXISTS): two agents share its id.
    /// `principal` must be allowed to register the node (`checkRegistrant`).
    func register(_ register: Orchion_V1_Register, principal: Principal, serial: Int) throws(RPCError) -> (
        AgentSession, Orchion_V1_Registered
    ) {
        var node = Node(register)
        do throws(NodeError) {
            try node.validate()
        } catch {
            throw RPCError(.invalidArgument, error.description)
        }
        try checkRegistrant(principal, nodeID: node.id)
        let hostname = register.hostname
        if hostname.utf8.count > 253
            || hostname.unicodeScalars.contains(where: {
                $0.properties.isWhitespace || $0.properties.generalCategory == .control
            })
        {
            throw RPCError(
                .invalidArgument,
                "invalid hostname: expected at most 253 bytes without spaces or control characters, "
                    + "found \(hostname.utf8.count) bytes")
        }
        let capabilities = (try? register.capabilities.serializedBytes() as [UInt8])?.count ?? Int.max
        if capabilities > InputBounds.capabilitiesBytes {
            throw RPCError(
                .invalidArgument,
                "invalid capabilities: expected at most \(InputBounds.capabilitiesBytes) bytes, found \(capabilities)")
        }
        let time = now()
        let interval = settings.heartbeat.interval(nodes: nodes.count + 1, unit: Double.random(in: 0...1))
        let id = node.id
        // A stream whose agent still heartbeats is not taken over: the
        // newcomer is another agent with this node id (a cloned machine id,
        // one started by hand with another state directory), which would get
        // the first's jobs redelivered while the first is told to stop them,
        // the two superseding each other forever. A reconnecting agent's old
        // stream has gone silent by the time it registers again.
        if sessions[id] != nil, let current = nodes[id]?.record, current.connected {
            let window = current.interval * 2
            let silence = time.subtractingReportingOverflow(current.lastHeartbeat)
            if !silence.overflow, Duration.milliseconds(silence.partialValue) < window {
                let heard = Duration.milliseconds(max(silence.partialValue, 0)).formatted
                throw RPCError(
                    .alreadyExists,
                    "node \(id) is connected on another stream and was heard from \(heard) ago: another agent "
                        + "runs with this node id; give each agent its own --node-id (a stream silent for "
                        + "\(window.formatted) is taken over)")
            }
        }
        var record: NodeRecord
        if let existing = nodes[id]?.record {
            record = existing
            record.node = node
            record.hostname = register.hostname
        } else {
            record = NodeRecord(node: node, hostname: register.hostname, now: time, interval: interval)
        }
        _ = NodeLifecycle.apply(.registered(interval: interval), to: &record, now: time, policy: settings.heartbeat)
        node = record.node
        var entry = NodeEntry(
            record: record, capabilities: register.capabilities, registeredCapacity: register.capacity)
        if let old = nodes[id] {
            entry.telemetry = old.telemetry
            entry.history = old.history
            entry.historyAt = old.historyAt
        }
        nodes[id] = entry
        reapplyAllocations(of: id)
        sessions[id]?.close(
            RPCError(.aborted, "node \(id) registered again on another connection; this stream is superseded"))
        let session = AgentSession(nodeID: id, serial: serial)
        sessions[id] = session
        metrics.agentStreams.increment()

        var stop: [String] = []
        for running in register.running {
            guard let job = jobs[running.jobID], let attempt = job.current, attempt.number == running.attempt,
                attempt.nodeID == id
            else {
                stop.append(running.jobID)
                continue
            }
            if apply(.started(attempt: running.attempt), to: job.id).ignored != nil,
                jobs[job.id]?.activeAttempt?.number != running.attempt
            {
                stop.append(running.jobID)
            }
        }
        nodeChanged(id, persist: true)
        let reported = Set(register.running.map(\.jobID))
        let registered = Orchion_V1_Registered.with {
            $0.nodeID = id
            $0.heartbeatInterval = .init(interval)
            $0.stopJobIds = stop
        }
        // What this node should run and did not report: assignments it may
        // not have received (it runs each attempt once, answering a
        // redelivery with the attempt's state), and cancels not confirmed.
        for jobID in nodeJobs[id, default: []] where !reported.contains(jobID) {
            guard let attempt = jobs[jobID]?.activeAttempt else { continue }
            deliver(jobID, attempt.number)
        }
        for jobID in nodeJobs[id, default: []] {
            guard let job = jobs[jobID], let reason = job.cancelReason, let attempt = job.activeAttempt else {
                continue
            }
            sendCancel(jobID, attempt, reason: reason)
        }
        return (session, registered)
    }

    /// The agent's stream ended; `session` only counts if it is still the node's.
    func disconnected(_ session: AgentSession) {
        guard sessions[session.nodeID] === session else { return }
        sessions[session.nodeID] = nil
        metrics.agentStreams.decrement()
        session.close()
        updateHealth(session.nodeID, .disconnected)
    }

    func heartbeat(_ heartbeat: Orchion_V1_Heartbeat, from session: AgentSession) {
        guard sessions[session.nodeID] === session else { return }
        let time = now()
        metrics.heartbeats.increment()
        if heartbeat.telemetry.hasSampledAt {
            metrics.heartbeatLagSeconds.observe(max(wallClockSeconds() - heartbeat.telemetry.sampledAt.epochSeconds, 0))
        }
        var telemetry = InputBounds.telemetry(heartbeat.telemetry, now: time)
        // Usage only of attempts running here: an agent may not fill every
        // node listing with figures for jobs it does not run.
        let placed = nodeJobs[session.nodeID, default: []]
        telemetry.jobs.removeAll { usage in
            !placed.contains(usage.jobID) || jobs[usage.jobID]?.activeAttempt?.number != usage.attempt
        }
        nodes[session.nodeID]?.record(telemetry, now: time)
        nodeListingStale = true
        updateHealth(session.nodeID, .heartbeat, at: time)
    }

    /// The agent is shutting down: nothing more is placed on its node until
    /// it registers again (it shows as draining meanwhile).
    func leaving(_ leaving: Orchion_V1_Leaving, from session: AgentSession) {
        let id = session.nodeID
        guard sessions[id] === session, let index = nodes.index(forKey: id) else { return }
        _ = NodeLifecycle.apply(.leaving, to: &nodes.values[index].record, now: now(), policy: settings.heartbeat)
        ServerLog.info("node \(id) is leaving: \(leaving.reason.prefix(utf8Bytes: InputBounds.agentReasonBytes))")
        nodeChanged(id, persist: false)
    }

    /// A job event from an agent: only about attempts placed on its own node.
    /// An agent reports LOST for an attempt it had to give up (not the job's
    /// doing), which the server retries as it does an attempt of a lost node.
    /// A report that a process runs for an attempt that is not this node's
    /// current one (superseded, finished, or never placed here) is answered
    /// with a cancel, so no orphan runs beside the real attempt.
    func jobEvent(_ event: Orchion_V1_JobEvent, from session: AgentSession) {
        guard sessions[session.nodeID] === session else { return }
        let ours =
            jobs[event.jobID]?.attempts.contains { $0.number == event.attempt && $0.nodeID == session.nodeID } ?? false
        let input: JobInput?
        switch event.state {
        case .scheduled: input = .acknowledged(attempt: event.attempt)
        case .running: input = .started(attempt: event.attempt)
        case .succeeded, .failed, .cancelled:
            input = .ended(
                attempt: event.attempt,
                AttemptResult(
                    state: JobState(event.state) ?? .failed, exitCode: event.exitCode, signal: event.signal,
                    reason: event.reason.prefix(utf8Bytes: InputBounds.agentReasonBytes), retryable: event.retryable,
                    timedOut: event.timedOut))
        case .lost:
            // The agent could not finish it (it restarted, or stopped its
            // jobs as it shut down): the node's fault, retried like a node loss.
            input = .lost(attempt: event.attempt, reason: event.reason.prefix(utf8Bytes: InputBounds.agentReasonBytes))
        default: input = nil
        }
        guard ours, let input, apply(input, to: event.jobID).ignored == nil else {
            metrics.agentMessagesIgnored.increment()
            let active = jobs[event.jobID]?.activeAttempt
            let current = active?.number == event.attempt && active?.nodeID == session.nodeID
            if !current, event.state == .scheduled || event.state == .running {
                session.send(
                    .with {
                        $0.cancel = .with {
                            $0.jobID = event.jobID
                            $0.attempt = event.attempt
                            $0.reason =
                                "attempt \(event.attempt) of job \(event.jobID) is not to run on \(session.nodeID)"
                        }
                    })
            }
            return
        }
    }

    /// A piece of job output from an agent: kept when it belongs to an
    /// attempt placed on the agent's own node.
    func logChunk(_ chunk: Orchion_V1_LogChunk, from session: AgentSession) {
        guard sessions[session.nodeID] === session, let logs,
            jobs[chunk.jobID]?.attempts.contains(where: { $0.number == chunk.attempt && $0.nodeID == session.nodeID })
                == true
        else {
            metrics.agentMessagesIgnored.increment()
            return
        }
        do throws(LogError) {
            try logs.append(chunk)
        } catch {
            metrics.agentMessagesIgnored.increment()
        }
    }

    // MARK: Router

    /// Sends attempt `number` of job `id` to its node, if its agent is connected
    /// (otherwise it goes when the agent registers again).
    func deliver(_ id: String, _ number: UInt32) {
        guard let job = jobs[id], let attempt = job.activeAttempt, attempt.number == number,
            let session = sessions[attempt.nodeID]
        else { return }
        session.send(
            .with {
                $0.assignment = .with {
                    $0.job = job.proto
                    $0.attempt = number
                    $0.gpuIndices = attempt.gpuIndices
                }
            })
    }

    func sendCancel(_ id: String, _ attempt: AttemptRecord, reason: String) {
        sessions[attempt.nodeID]?.send(
            .with {
                $0.cancel = .with {
                    $0.jobID = id
                    $0.attempt = attempt.number
                    $0.reason = reason
                }
            })
    }

    // MARK: Health

    /// Starts the sweep that turns silent nodes suspect, then down.
    func startHealthChecks() throws(LoopError) {
        let timer = try Timer(loop: loop)
        let every = UInt64(clamping: max(settings.heartbeat.minInterval.milliseconds / 4, 100))
        timer.start(after: every, repeat: every) { [unowned self] in sweep() }
        healthTimer = timer
    }

    private func sweep() {
        let time = now()
        // The ids first: updating `nodes` while iterating it would copy the
        // whole dictionary on every sweep.
        // A node whose stream the server itself stopped reading (log
        // backpressure) counts as heard from: its heartbeats wait unread.
        for id in Array(nodes.keys) { updateHealth(id, sessions[id]?.heldBack == true ? .heartbeat : .tick, at: time) }
        forgetLongDownNodes(at: time)
        announceIntervalIfChanged()
        var counts: [NodeState: Int] = [:]
        for index in nodes.indices { counts[nodes.values[index].record.node.state, default: 0] += 1 }
        for state in NodeState.allCases { metrics.nodes(state).set(counts[state] ?? 0) }
    }

    /// Forgets nodes down for longer than `downNodeRetention` that hold no
    /// job: the registry, the scheduler's view and the store stop growing
    /// with every node that ever registered.
    private func forgetLongDownNodes(at time: Millis) {
        // Index by index: a filter would copy every entry on every sweep.
        var gone: [String] = []
        for index in nodes.indices
        where nodes.values[index].record.isForgettable(at: time, retention: settings.downNodeRetention)
            && nodeJobs[nodes.keys[index], default: []].isEmpty
        {
            gone.append(nodes.keys[index])
        }
        for id in gone {
            nodes[id] = nil
            nodeJobs[id] = nil
            scheduling.remove(id)
            stage(.deleteNode(id))
            nodeListing = nil
            ServerLog.info("node \(ServerLog.oneLine(id)) forgotten after \(settings.downNodeRetention) down")
        }
    }

    private func updateHealth(_ id: String, _ input: NodeInput, at time: Millis? = nil) {
        // In place: copying the entry out and back costs a retain and a
        // release of each of its fields, for every node on every sweep.
        guard let index = nodes.index(forKey: id) else { return }
        let change = NodeLifecycle.apply(
            input, to: &nodes.values[index].record, now: time ?? now(), policy: settings.heartbeat)
        guard case .health(_, let to)? = change else { return }
        ServerLog.info("node \(id) is \(to.rawValue)")
        if to == .down {
            let silence = settings.heartbeat.downAfter(interval: nodes.values[index].record.interval)
            for jobID in nodeJobs[id, default: []] {
                guard let attempt = jobs[jobID]?.activeAttempt else { continue }
                apply(
                    .lost(attempt: attempt.number, reason: "node \(id) went silent for \(silence.formatted)"), to: jobID
                )
            }
        }
        nodeChanged(id, persist: false)
    }

    /// Tells every agent a new interval when the node count moved the base
    /// interval by more than a tenth (Nomad's rule: load stays bounded).
    private func announceIntervalIfChanged() {
        let base = settings.heartbeat.interval(nodes: nodes.count)
        let drift = abs((base - announcedInterval) / announcedInterval)
        guard drift > 0.1 else { return }
        announcedInterval = base
        for (id, session) in sessions {
            let interval = settings.heartbeat.interval(nodes: nodes.count, unit: Double.random(in: 0...1))
            nodes[id]?.record.interval = interval
            session.send(.with { $0.config = .with { $0.heartbeatInterval = .init(interval) } })
        }
    }

    // MARK: Operator

    enum Operation { case drain, undrain, cordon, uncordon }

    func operate(_ operation: Operation, on id: String) throws(RPCError) -> Orchion_V1_Node {
        guard var entry = nodes[id] else { throw RPCError(.notFound, "node \(id) not found") }
        switch operation {
        case .drain: entry.record.draining = true
        case .undrain: entry.record.draining = false
        case .cordon: entry.record.cordoned = true
        case .uncordon:
            entry.record.draining = false
            entry.record.cordoned = false
        }
        entry.record.refreshState()
        nodes[id] = entry
        nodeChanged(id, persist: true)
        ServerLog.info("node \(id): \(operation)")
        return entry.proto(jobs: nodeJobs[id]?.count ?? 0, withHistory: false)
    }

    func node(_ id: String) throws(RPCError) -> Orchion_V1_Node {
        guard let entry = nodes[id] else { throw RPCError(.notFound, "node \(id) not found") }
        return entry.proto(jobs: nodeJobs[id]?.count ?? 0, withHistory: true)
    }

    /// All nodes, rebuilt when a node changed and at most once a second for
    /// telemetry alone, so polling a steady cluster costs no encoding (the
    /// REST face reuses the JSON of an identical reply).
    func nodeList() -> Orchion_V1_ListNodesResponse {
        let time = now()
        if let listing = nodeListing, !nodeListingStale || time - nodeListingAt < 1000 { return listing }
        let listing = Orchion_V1_ListNodesResponse.with {
            $0.nodes = nodes.keys.sorted().compactMap { id in
                nodes[id].map { $0.proto(jobs: nodeJobs[id]?.count ?? 0, withHistory: false) }
            }
        }
        nodeListing = listing
        nodeListingAt = time
        nodeListingStale = false
        return listing
    }

    // MARK: Resources

    /// Something about node `id` changed: drop the listing, update the
    /// scheduler's view, note it for waking parked jobs, maybe store it.
    func nodeChanged(_ id: String, persist: Bool) {
        nodeListing = nil
        guard let entry = nodes[id] else { return }
        do {
            try scheduling.upsert(entry.record.node)
        } catch {
            ServerLog.error("node \(id) left out of scheduling: \(error)")
        }
        changedNodes.insert(id)
        if persist { stage(.putNode(StoredNode(id: id, record: NodeCodec.encode(entry)))) }
        scheduleSoon()
    }

    /// Takes what `requirements` need on node `nodeID`, with these GPUs.
    func allocate(_ requirements: JobRequirements, gpus: [UInt32], on nodeID: String, job: String) {
        guard var entry = nodes[nodeID] else { return }
        entry.record.node.allocatedCPUMillis &+= requirements.resources.cpuMillis
        entry.record.node.allocatedMemoryBytes &+= requirements.resources.memoryBytes
        for index in entry.record.node.gpus.indices where gpus.contains(entry.record.node.gpus[index].index) {
            entry.record.node.gpus[index].allocated = true
        }
        nodes[nodeID] = entry
        nodeJobs[nodeID, default: []].insert(job)
    }

    func release(_ attempt: AttemptRecord, of job: JobRecord) {
        guard var entry = nodes[attempt.nodeID] else { return }
        let need = job.spec.requirements.resources
        let node = entry.record.node
        entry.record.node.allocatedCPUMillis =
            node.allocatedCPUMillis > need.cpuMillis
            ? node.allocatedCPUMillis - need.cpuMillis : 0
        entry.record.node.allocatedMemoryBytes =
            node.allocatedMemoryBytes > need.memoryBytes
            ? node.allocatedMemoryBytes - need.memoryBytes : 0
        for index in node.gpus.indices where attempt.gpuIndices.contains(node.gpus[index].index) {
            entry.record.node.gpus[index].allocated = false
        }
        nodes[attempt.nodeID] = entry
        nodeJobs[attempt.nodeID]?.remove(job.id)
        nodeChanged(attempt.nodeID, persist: false)
    }

    func reserve(_ attempt: AttemptRecord, of job: JobRecord) {
        allocate(job.spec.requirements, gpus: attempt.gpuIndices, on: attempt.nodeID, job: job.id)
        nodeChanged(attempt.nodeID, persist: false)
    }

    /// Recomputes node `id`'s allocations from the active attempts placed on
    /// it (after it registers with a new capacity, or on reload).
    func reapplyAllocations(of id: String) {
        guard var entry = nodes[id] else { return }
        entry.record.node.allocatedCPUMillis = 0
        entry.record.node.allocatedMemoryBytes = 0
        for index in entry.record.node.gpus.indices { entry.record.node.gpus[index].allocated = false }
        nodes[id] = entry
        let placed = nodeJobs[id, default: []]
        nodeJobs[id] = []
        for jobID in placed {
            guard let job = jobs[jobID], let attempt = job.activeAttempt, attempt.nodeID == id else { continue }
            allocate(job.spec.requirements, gpus: attempt.gpuIndices, on: id, job: jobID)
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
