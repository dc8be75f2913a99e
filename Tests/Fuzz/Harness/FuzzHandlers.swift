import Foundation
import OrchionProto
import OrchionWire

/// The control API the fuzzed server serves: deterministic answers, enough
/// to send every route and method down its success and its error path.
/// Streams end on their own after a few messages, so an exchange is bounded.
struct FuzzControl: ControlServiceHandler {
    static let node = Orchion_V1_Node.with {
        $0.id = "n1"
        $0.hostname = "fuzz-01"
        $0.state = .ready
        $0.labels = ["zone": "fuzz"]
    }

    static func job(_ id: String) -> Orchion_V1_Job {
        .with {
            $0.id = id
            $0.state = .pending
        }
    }

    func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    {
        .with { $0.nodes = [Self.node] }
    }

    func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        guard request.id == Self.node.id else { throw RPCError(.notFound, "node \(request.id) not found") }
        return Self.node
    }

    func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        guard request.id == Self.node.id else { throw RPCError(.notFound, "node \(request.id) not found") }
        var node = Self.node
        node.state = .draining
        return node
    }

    func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        guard request.spec.command.isEmpty != request.spec.argv.isEmpty else {
            throw RPCError(.invalidArgument, "spec: expected exactly one of command and argv")
        }
        var job = Self.job("job-1")
        job.spec = request.spec
        return job
    }

    func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    {
        .with { $0.jobs = request.state == .unspecified || request.state == .pending ? [Self.job("job-1")] : [] }
    }

    func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        guard request.id == "job-1" else { throw RPCError(.notFound, "job \(request.id) not found") }
        return Self.job(request.id)
    }

    func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        guard request.id == "job-1" else { throw RPCError(.notFound, "job \(request.id) not found") }
        var job = Self.job(request.id)
        job.state = .cancelled
        job.reason = request.reason
        return job
    }

    func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        guard request.jobID == "job-1" else { throw RPCError(.notFound, "job \(request.jobID) not found") }
        for (index, line) in ["one\n", "two\n"].enumerated() {
            try await stream.send(
                .with {
                    $0.jobID = request.jobID
                    $0.attempt = 1
                    $0.offset = UInt64(index * 4)
                    $0.data = Data(line.utf8)
                })
        }
    }

    func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws {
        for step in 1...2 {
            let (sequence, overflow) = request.after.addingReportingOverflow(UInt64(step))
            try await stream.send(
                .with {
                    $0.jobID = request.jobID.isEmpty ? "job-1" : request.jobID
                    $0.state = .running
                    $0.sequence = overflow ? 0 : sequence
                })
        }
    }

    func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    {
        Orchion_V1_ListPluginsResponse()
    }

    func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        guard request.id == Self.node.id else { throw RPCError(.notFound, "node \(request.id) not found") }
        var node = Self.node
        node.cordoned = true
        return node
    }

    func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        guard request.id == Self.node.id else { throw RPCError(.notFound, "node \(request.id) not found") }
        return Self.node
    }

    func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        .with { $0.defaultStrategy = "bin-packing" }
    }

    func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        guard request.defaultStrategy == "bin-packing" else {
            throw RPCError(.invalidArgument, "no strategy named \(request.defaultStrategy)")
        }
        return .with { $0.defaultStrategy = request.defaultStrategy }
    }
}

/// The agent API the fuzzed server serves: answers each agent message with
/// one server message, and ends when the agent's stream ends.
struct FuzzAgent: AgentServiceHandler {
    func connect(
        _ requests: RequestStream<Orchion_V1_AgentMessage>, context: CallContext,
        responses: ResponseStream<Orchion_V1_ServerMessage>
    ) async throws {
        var count = 0
        for try await message in requests {
            count += 1
            guard count <= 8 else { throw RPCError(.resourceExhausted, "the fuzz agent takes at most 8 messages") }
            let nodeID = message.register.nodeID
            try await responses.send(.with { $0.registered = .with { $0.nodeID = nodeID } })
        }
    }
}
