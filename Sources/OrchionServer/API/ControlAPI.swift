import OrchionLoop
import OrchionProto
import OrchionWire

/// The control API (gRPC and REST) over the control plane.
///
/// Threading: calls arrive as tasks on the loop (see `ControlServiceHandler`),
/// so each reaches the plane on the loop thread.
struct ControlAPI: ControlServiceHandler {
    let plane: LoopBound<ControlPlane>
    /// The client tokens file behind CreateToken, ListTokens and RevokeToken;
    /// without it those answer UNIMPLEMENTED.
    var tokens: ClientTokens? = nil

    func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    {
        plane.wrapped.nodeList()
    }

    func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try plane.wrapped.node(request.id)
    }

    func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try plane.wrapped.operate(.drain, on: request.id)
    }

    func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try plane.wrapped.operate(.cordon, on: request.id)
    }

    func undrainNode(_ request: Orchion_V1_UndrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try plane.wrapped.operate(.undrain, on: request.id)
    }

    func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try plane.wrapped.operate(.uncordon, on: request.id)
    }

    /// Answers once the removal (the tombstone) is durable.
    func removeNode(_ request: Orchion_V1_RemoveNodeRequest, context: CallContext) async throws
        -> Orchion_V1_RemovedNode
    {
        let removed = try plane.wrapped.removeNode(request.id)
        await durable()
        return removed
    }

    /// Answers once the admission is durable.
    func admitNode(_ request: Orchion_V1_AdmitNodeRequest, context: CallContext) async throws
        -> Orchion_V1_AdmittedNode
    {
        let admitted = try plane.wrapped.admitNode(request.id)
        await durable()
        return admitted
    }

    /// Returns once everything the plane staged so far is durable.
    private func durable() async {
        let plane = self.plane
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            plane.wrapped.whenDurable { done.resume() }
        }
    }

    func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        let plane = self.plane
        let result: Result<Orchion_V1_Job, RPCError> = await withCheckedContinuation { continuation in
            plane.wrapped.submit(request, submittedBy: context.principal.clientName) {
                continuation.resume(returning: $0)
            }
        }
        return try result.get()
    }

    func submitJobs(_ request: Orchion_V1_SubmitJobsRequest, context: CallContext) async throws
        -> Orchion_V1_SubmitJobsResponse
    {
        let plane = self.plane
        let result: Result<[String], RPCError> = await withCheckedContinuation { continuation in
            plane.wrapped.submitAll(request.jobs, submittedBy: context.principal.clientName) {
                continuation.resume(returning: $0)
            }
        }
        let ids = try result.get()
        return .with { $0.jobIds = ids }
    }

    func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    {
        try plane.wrapped.listJobs(request)
    }

    func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        try plane.wrapped.job(request.id)
    }

    /// An `admin` token cancels any job; a `submit` token only the jobs it
    /// submitted (`ControlScopes` has already refused `read`).
    func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        guard case .client(let name, let scope) = context.principal else {
            throw RPCError(.permissionDenied, "only a client token may cancel a job")
        }
        if scope < .admin {
            guard let job = plane.wrapped.jobs[request.id] else { throw plane.wrapped.notFound(request.id) }
            guard job.submittedBy == name else {
                throw RPCError(
                    .permissionDenied,
                    "cancelling a job another token submitted needs scope admin; token '\(name)' has scope \(scope.name)"
                        + " and did not submit job \(request.id)")
            }
        }
        return try plane.wrapped.cancel(request.id, reason: request.reason)
    }

    func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        let plane = self.plane
        guard let logs = plane.wrapped.logs else { throw RPCError(.unavailable, "job logs are not kept") }
        var attempt = try attemptToFollow(request.jobID)
        if attempt == 0, request.follow {
            // Not placed yet: wait for its first attempt (or its end).
            let (id, events) = plane.wrapped.events.watch(after: plane.wrapped.events.sequence, jobID: request.jobID)
            defer { plane.wrapped.events.remove(id) }
            for try await event in events where event.attempt > 0 || event.state.isFinal {
                attempt = event.attempt
                break
            }
        }
        guard attempt > 0 else { return }
        try await logs.send(
            jobID: request.jobID, attempt: attempt, from: request.offset, follow: request.follow, to: stream)
    }

    /// The latest attempt of job `id` (0 before its first), or NOT_FOUND.
    private func attemptToFollow(_ id: String) throws(RPCError) -> UInt32 {
        guard let job = plane.wrapped.jobs[id] else { throw plane.wrapped.notFound(id) }
        return job.current?.number ?? 0
    }

    func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws {
        let plane = self.plane.wrapped
        let jobID = request.jobID.isEmpty ? nil : request.jobID
        var finished = false
        if let jobID {
            guard let job = plane.jobs[jobID] else { throw plane.notFound(jobID) }
            finished = job.state.isTerminal
        }
        let (id, events) = plane.events.watch(after: request.after, jobID: jobID)
        // A finished job's watch, or one asked to, replays what is retained and ends.
        if finished || request.replayOnly { plane.events.remove(id) }
        defer { self.plane.wrapped.events.remove(id) }
        for try await event in events { try await stream.send(event) }
    }

    func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    {
        plane.wrapped.pluginList()
    }

    func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        plane.wrapped.schedulerSettings()
    }

    func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        try plane.wrapped.setDefaultStrategy(request.defaultStrategy)
    }

    func createToken(_ request: Orchion_V1_CreateTokenRequest, context: CallContext) async throws
        -> Orchion_V1_CreatedToken
    {
        let name = request.name
        let scope = request.scope
        let ttl = request.ttlSeconds
        let created = try await onTokenFile { tokens throws(RPCError) in
            try tokens.create(name: name, scope: scope, ttlSeconds: ttl)
        }
        ServerLog.info(
            "client token '\(created.info.name)' (scope \(created.info.scope)"
                + (created.info.hasExpiresAt
                    ? ", expires \(ClientTokenFile.iso8601(created.info.expiresAt.seconds))" : ", never expires")
                + ") created by \(context.principal)")
        return created
    }

    func listTokens(_ request: Orchion_V1_ListTokensRequest, context: CallContext) async throws
        -> Orchion_V1_ListTokensResponse
    {
        let entries = try await onTokenFile { tokens throws(RPCError) in try tokens.list() }
        guard let tokens else { throw RPCError(.unimplemented, "this server does not manage client tokens") }
        return .with { $0.tokens = entries.map(tokens.info) }
    }

    func revokeToken(_ request: Orchion_V1_RevokeTokenRequest, context: CallContext) async throws
        -> Orchion_V1_TokenInfo
    {
        let name = request.name
        let revoked = try await onTokenFile { tokens throws(RPCError) in try tokens.revoke(name: name) }
        ServerLog.info("client token '\(revoked.name)' revoked by \(context.principal)")
        return revoked
    }

    /// Runs `body` on the loop's thread pool (it does blocking file I/O).
    private func onTokenFile<T: Sendable>(_ body: @escaping @Sendable (ClientTokens) throws(RPCError) -> T)
        async throws -> T
    {
        guard let tokens else { throw RPCError(.unimplemented, "this server does not manage client tokens") }
        let loop = plane.loop
        let result: Result<T, RPCError> = await withCheckedContinuation { continuation in
            loop.queueWork({ () -> Result<T, RPCError> in
                do throws(RPCError) { return .success(try body(tokens)) } catch { return .failure(error) }
            }) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }
}
