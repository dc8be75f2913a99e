import OrchionLoop
import OrchionProto
import OrchionWire
import SwiftProtobuf

/// The control API over gRPC with the tests' client token (or another).
public struct ControlClient: Sendable {
    public let client: GRPCClient

    public static func connect(
        _ server: SocketAddress, loop: EventLoop, token: String = ServerProcess.clientToken
    ) async throws -> ControlClient {
        ControlClient(client: try await GRPCClient.connect(loop: loop, to: server, token: token))
    }

    private func call<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ method: String, _ request: Request
    ) async throws -> Reply {
        try await client.unary("/orchion.v1.ControlService/\(method)", request, timeoutMillis: 10_000)
    }

    public func submit(_ spec: Orchion_V1_JobSpec, requestID: String = "") async throws -> Orchion_V1_Job {
        try await call(
            "SubmitJob",
            Orchion_V1_SubmitJobRequest.with {
                $0.spec = spec
                $0.requestID = requestID
            })
    }

    public func job(_ id: String) async throws -> Orchion_V1_Job {
        try await call("GetJob", Orchion_V1_GetJobRequest.with { $0.id = id })
    }

    public func jobs(state: Orchion_V1_JobState = .unspecified, pageSize: UInt32 = 0, token: String = "") async throws
        -> Orchion_V1_ListJobsResponse
    {
        try await call(
            "ListJobs",
            Orchion_V1_ListJobsRequest.with {
                $0.state = state
                $0.pageSize = pageSize
                $0.pageToken = token
            })
    }

    public func cancel(_ id: String, reason: String = "") async throws -> Orchion_V1_Job {
        try await call(
            "CancelJob",
            Orchion_V1_CancelJobRequest.with {
                $0.id = id
                $0.reason = reason
            })
    }

    public func node(_ id: String) async throws -> Orchion_V1_Node {
        try await call("GetNode", Orchion_V1_GetNodeRequest.with { $0.id = id })
    }

    public func nodes() async throws -> [Orchion_V1_Node] {
        let reply: Orchion_V1_ListNodesResponse = try await call("ListNodes", Orchion_V1_ListNodesRequest())
        return reply.nodes
    }

    public func drain(_ id: String) async throws -> Orchion_V1_Node {
        try await call("DrainNode", Orchion_V1_DrainNodeRequest.with { $0.id = id })
    }

    public func cordon(_ id: String) async throws -> Orchion_V1_Node {
        try await call("CordonNode", Orchion_V1_CordonNodeRequest.with { $0.id = id })
    }

    public func uncordon(_ id: String) async throws -> Orchion_V1_Node {
        try await call("UncordonNode", Orchion_V1_UncordonNodeRequest.with { $0.id = id })
    }

    public func removeNode(_ id: String) async throws -> Orchion_V1_RemovedNode {
        try await call("RemoveNode", Orchion_V1_RemoveNodeRequest.with { $0.id = id })
    }

    public func admitNode(_ id: String) async throws -> Orchion_V1_AdmittedNode {
        try await call("AdmitNode", Orchion_V1_AdmitNodeRequest.with { $0.id = id })
    }

    public func plugins() async throws -> [Orchion_V1_Plugin] {
        let reply: Orchion_V1_ListPluginsResponse = try await call("ListPlugins", Orchion_V1_ListPluginsRequest())
        return reply.plugins
    }

    public func setDefaultStrategy(_ name: String) async throws -> Orchion_V1_SchedulerSettings {
        try await call("SetScheduler", Orchion_V1_SetSchedulerRequest.with { $0.defaultStrategy = name })
    }

    public func scheduler() async throws -> Orchion_V1_SchedulerSettings {
        try await call("GetScheduler", Orchion_V1_GetSchedulerRequest())
    }

    public func logs(_ job: String, follow: Bool, offset: UInt64 = 0) -> AsyncThrowingStream<
        Orchion_V1_LogChunk, any Error
    > {
        client.serverStreaming(
            "/orchion.v1.ControlService/FollowLogs",
            Orchion_V1_FollowLogsRequest.with {
                $0.jobID = job
                $0.follow = follow
                $0.offset = offset
            }, as: Orchion_V1_LogChunk.self)
    }

    public func events(after: UInt64 = 0, job: String = "") -> AsyncThrowingStream<Orchion_V1_JobEvent, any Error> {
        client.serverStreaming(
            "/orchion.v1.ControlService/WatchEvents",
            Orchion_V1_WatchEventsRequest.with {
                $0.after = after
                $0.jobID = job
            }, as: Orchion_V1_JobEvent.self)
    }
}
