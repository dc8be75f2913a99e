import OrchionProto

/// A `ControlServiceHandler` that lets a call through to `base` only when
/// its caller's token has the scope `ControlScopes` names for the method;
/// else PERMISSION_DENIED before `base` sees it. Both faces serve the
/// control API through one (`RESTGateway` and `GRPCServices` wrap what
/// they are given), so the table is enforced for REST and gRPC alike.
///
/// Adding a method to `ControlServiceHandler`: its scope goes in
/// `ControlScopes.required` (one line), and its forward here (the same
/// three lines as every other). A method left without a forward answers
/// what the protocol's default answers (UNIMPLEMENTED), never reaching
/// `base` unchecked; one left out of the table is refused to every token.
///
/// Threading: as `base`; the check itself is pure.
public struct ScopedControlService: ControlServiceHandler {
    public let base: any ControlServiceHandler

    /// `service` guarded by the scope table (as it is when already guarded).
    public static func guarding(_ service: any ControlServiceHandler) -> any ControlServiceHandler {
        service is ScopedControlService ? service : ScopedControlService(base: service)
    }

    private init(base: any ControlServiceHandler) { self.base = base }

    /// How often an open stream asks whether its token still authenticates.
    static let recheck = Duration.seconds(2)

    /// Runs the streaming `call`, ending it with UNAUTHENTICATED within
    /// `recheck` of the caller's token being revoked or expiring, whether
    /// the stream is busy or sends nothing (a watch on a quiet cluster).
    static func endingWhenUnauthorized(
        _ context: CallContext, _ call: @escaping @Sendable () async throws -> Void
    ) async throws {
        guard let stillAuthorized = context.stillAuthorized else { return try await call() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask(operation: call)
            group.addTask {
                while true {
                    try await Task.sleep(for: recheck)
                    guard stillAuthorized() else {
                        throw RPCError(.unauthenticated, "the token was revoked or has expired: the stream ends")
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    public func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    {
        try ControlScopes.check("ListNodes", context.principal)
        return try await base.listNodes(request, context: context)
    }

    public func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try ControlScopes.check("GetNode", context.principal)
        return try await base.getNode(request, context: context)
    }

    public func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node
    {
        try ControlScopes.check("DrainNode", context.principal)
        return try await base.drainNode(request, context: context)
    }

    public func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        try ControlScopes.check("SubmitJob", context.principal)
        return try await base.submitJob(request, context: context)
    }

    public func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    {
        try ControlScopes.check("ListJobs", context.principal)
        return try await base.listJobs(request, context: context)
    }

    public func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        try ControlScopes.check("GetJob", context.principal)
        return try await base.getJob(request, context: context)
    }

    public func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        try ControlScopes.check("CancelJob", context.principal)
        return try await base.cancelJob(request, context: context)
    }

    public func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        try ControlScopes.check("FollowLogs", context.principal)
        let base = self.base
        try await Self.endingWhenUnauthorized(context) {
            try await base.followLogs(request, context: context, stream: stream)
        }
    }

    public func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws {
        try ControlScopes.check("WatchEvents", context.principal)
        let base = self.base
        try await Self.endingWhenUnauthorized(context) {
            try await base.watchEvents(request, context: context, stream: stream)
        }
    }

    public func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    {
        try ControlScopes.check("ListPlugins", context.principal)
        return try await base.listPlugins(request, context: context)
    }

    public func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws
        -> Orchion_V1_Node
    {
        try ControlScopes.check("CordonNode", context.principal)
        return try await base.cordonNode(request, context: context)
    }

    public func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws
        -> Orchion_V1_Node
    {
        try ControlScopes.check("UncordonNode", context.principal)
        return try await base.uncordonNode(request, context: context)
    }

    public func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        try ControlScopes.check("GetScheduler", context.principal)
        return try await base.getScheduler(request, context: context)
    }

    public func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        try ControlScopes.check("SetScheduler", context.principal)
        return try await base.setScheduler(request, context: context)
    }

    public func undrainNode(_ request: Orchion_V1_UndrainNodeRequest, context: CallContext) async throws
        -> Orchion_V1_Node
    {
        try ControlScopes.check("UndrainNode", context.principal)
        return try await base.undrainNode(request, context: context)
    }

    public func submitJobs(_ request: Orchion_V1_SubmitJobsRequest, context: CallContext) async throws
        -> Orchion_V1_SubmitJobsResponse
    {
        try ControlScopes.check("SubmitJobs", context.principal)
        return try await base.submitJobs(request, context: context)
    }

    public func createToken(_ request: Orchion_V1_CreateTokenRequest, context: CallContext) async throws
        -> Orchion_V1_CreatedToken
    {
        try ControlScopes.check("CreateToken", context.principal)
        return try await base.createToken(request, context: context)
    }

    public func listTokens(_ request: Orchion_V1_ListTokensRequest, context: CallContext) async throws
        -> Orchion_V1_ListTokensResponse
    {
        try ControlScopes.check("ListTokens", context.principal)
        return try await base.listTokens(request, context: context)
    }

    public func revokeToken(_ request: Orchion_V1_RevokeTokenRequest, context: CallContext) async throws
        -> Orchion_V1_TokenInfo
    {
        try ControlScopes.check("RevokeToken", context.principal)
        return try await base.revokeToken(request, context: context)
    }

    public func removeNode(_ request: Orchion_V1_RemoveNodeRequest, context: CallContext) async throws
        -> Orchion_V1_RemovedNode
    {
        try ControlScopes.check("RemoveNode", context.principal)
        return try await base.removeNode(request, context: context)
    }

    public func admitNode(_ request: Orchion_V1_AdmitNodeRequest, context: CallContext) async throws
        -> Orchion_V1_AdmittedNode
    {
        try ControlScopes.check("AdmitNode", context.principal)
        return try await base.admitNode(request, context: context)
    }
}
