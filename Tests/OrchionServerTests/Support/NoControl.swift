import OrchionProto
import OrchionWire

/// A control service with nothing behind it but, when given, `followLogs`:
/// the server tests reach only `/metrics`, the token check in front of the
/// other routes, and the logs route.
struct NoControl: ControlServiceHandler {
    typealias FollowLogs =
        @Sendable (
            Orchion_V1_FollowLogsRequest, ResponseStream<Orchion_V1_LogChunk>
        ) async throws -> Void

    var logs: FollowLogs?

    init(logs: FollowLogs? = nil) { self.logs = logs }

    private var none: RPCError { RPCError(.unimplemented, "not part of the server tests") }

    func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    { throw none }
    func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        throw none
    }
    func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        throw none
    }
    func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        throw none
    }
    func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    { throw none }
    func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        throw none
    }
    func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        throw none
    }
    func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        guard let logs else { throw none }
        try await logs(request, stream)
    }
    func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws { throw none }
    func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    { throw none }
    func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        throw none
    }
    func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws
        -> Orchion_V1_Node
    { throw none }
    func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    { throw none }
    func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    { throw none }
}
