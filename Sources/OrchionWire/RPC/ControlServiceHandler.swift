import OrchionProto

/// What one call knows about its caller.
public struct CallContext: Sendable {
    /// The authenticated caller.
    public let principal: Principal
    /// When the caller stops waiting, if it said (gRPC `grpc-timeout`).
    public let deadline: ContinuousClock.Instant?
    /// Whether the caller's token still authenticates as `principal`
    /// (false once it is revoked or expires), for streams that outlive the
    /// check at their start (`ScopedControlService.endingWhenUnauthorized`);
    /// nil: not re-checked.
    public let stillAuthorized: (@Sendable () -> Bool)?

    public init(
        principal: Principal, deadline: ContinuousClock.Instant? = nil,
        stillAuthorized: (@Sendable () -> Bool)? = nil
    ) {
        self.principal = principal
        self.deadline = deadline
        self.stillAuthorized = stillAuthorized
    }
}

/// Sends the messages of a server-streaming call, with backpressure: `send`
/// suspends while the peer's socket is full and throws `CancellationError`
/// once the peer has gone.
public struct ResponseStream<Message: Sendable>: Sendable {
    private let write: @Sendable (Message) async throws -> Void

    public init(_ write: @escaping @Sendable (Message) async throws -> Void) {
        self.write = write
    }

    public func send(_ message: Message) async throws { try await write(message) }
}

/// The control API, implemented by the server and served by both faces
/// (gRPC and REST/JSON). Throw `RPCError` for an answer the caller should
/// see; any other error becomes INTERNAL without its details.
///
/// Calls arrive as tasks that run on the event loop (`executorPreference`).
public protocol ControlServiceHandler: Sendable {
    func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node
    func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node
    func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job
    func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job
    func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job
    func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws
    func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws
    func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node
    func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node
    func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    func undrainNode(_ request: Orchion_V1_UndrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node
    func submitJobs(_ request: Orchion_V1_SubmitJobsRequest, context: CallContext) async throws
        -> Orchion_V1_SubmitJobsResponse
    func createToken(_ request: Orchion_V1_CreateTokenRequest, context: CallContext) async throws
        -> Orchion_V1_CreatedToken
    func listTokens(_ request: Orchion_V1_ListTokensRequest, context: CallContext) async throws
        -> Orchion_V1_ListTokensResponse
    func revokeToken(_ request: Orchion_V1_RevokeTokenRequest, context: CallContext) async throws
        -> Orchion_V1_TokenInfo
    func removeNode(_ request: Orchion_V1_RemoveNodeRequest, context: CallContext) async throws
        -> Orchion_V1_RemovedNode
    func admitNode(_ request: Orchion_V1_AdmitNodeRequest, context: CallContext) async throws
        -> Orchion_V1_AdmittedNode
}

/// Services that predate a method answer UNIMPLEMENTED for it, as gRPC does
/// for a method a server does not know.
extension ControlServiceHandler {
    public func undrainNode(_ request: Orchion_V1_UndrainNodeRequest, context: CallContext) async throws
        -> Orchion_V1_Node
    { throw Self.unimplemented("UndrainNode") }

    public func submitJobs(_ request: Orchion_V1_SubmitJobsRequest, context: CallContext) async throws
        -> Orchion_V1_SubmitJobsResponse
    { throw Self.unimplemented("SubmitJobs") }

    public func createToken(_ request: Orchion_V1_CreateTokenRequest, context: CallContext) async throws
        -> Orchion_V1_CreatedToken
    { throw Self.unimplemented("CreateToken") }

    public func listTokens(_ request: Orchion_V1_ListTokensRequest, context: CallContext) async throws
        -> Orchion_V1_ListTokensResponse
    { throw Self.unimplemented("ListTokens") }

    public func revokeToken(_ request: Orchion_V1_RevokeTokenRequest, context: CallContext) async throws
        -> Orchion_V1_TokenInfo
    { throw Self.unimplemented("RevokeToken") }

    public func removeNode(_ request: Orchion_V1_RemoveNodeRequest, context: CallContext) async throws
        -> Orchion_V1_RemovedNode
    { throw Self.unimplemented("RemoveNode") }

    public func admitNode(_ request: Orchion_V1_AdmitNodeRequest, context: CallContext) async throws
        -> Orchion_V1_AdmittedNode
    { throw Self.unimplemented("AdmitNode") }

    private static func unimplemented(_ method: String) -> RPCError {
        RPCError(.unimplemented, "\(method) is not served here")
    }
}

extension RPCError {
    /// `error` as the caller may see it: RPC errors as they are, cancellation
    /// as CANCELLED, anything else as INTERNAL without details.
    static func from(_ error: any Error) -> RPCError {
        if let error = error as? RPCError { return error }
        if error is CancellationError { return RPCError(.cancelled, "the call was cancelled") }
        return RPCError(.internal, "internal error")
    }
}
