import Foundation
import OrchionProto
import OrchionWire
import Synchronization

/// A small in-memory ControlServiceHandler: enough state to prove the
/// transports and the mappings, nothing of the real control plane.
final class TestControl: ControlServiceHandler {
    private struct State {
        var nodes: [String: Orchion_V1_Node] = [:]
        var jobs: [String: Orchion_V1_Job] = [:]
        var nextJob = 1
        var cancelledStreams = 0
        var defaultStrategy = "bin-packing"
        var plugins: [Orchion_V1_Plugin] = [
            .with {
                $0.name = "bin-packing"
                $0.kind = .scheduler
                $0.state = .loaded
                $0.abi = "1.0"
            }
        ]
    }

    /// What `listPlugins` answers from now on.
    func setPlugins(_ plugins: [Orchion_V1_Plugin]) { state.withLock { $0.plugins = plugins } }

    private let state = Mutex(State())

    init() {
        let node = Orchion_V1_Node.with {
            $0.id = "n1"
            $0.hostname = "pi-01"
            $0.state = .ready
            $0.capabilities = .with {
                $0.arch = "aarch64"
                $0.cpuCores = 4
                $0.memoryBytes = 8 << 30
            }
            $0.capacity = .with {
                $0.cpuMillis = 4000
                $0.memoryBytes = 8 << 30
            }
            $0.labels = ["zone": "attic"]
        }
        state.withLock { $0.nodes["n1"] = node }
    }

    /// Streams the peer abandoned (their task saw cancellation).
    var cancelledStreams: Int { state.withLock { $0.cancelledStreams } }

    func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    {
        .with { $0.nodes = state.withLock { $0.nodes.values.sorted { $0.id < $1.id } } }
    }

    func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        guard let node = state.withLock({ $0.nodes[request.id] }) else {
            throw RPCError(.notFound, "node \(request.id) not found")
        }
        return node
    }

    func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try state.withLock { state in
            guard state.nodes[request.id] != nil else { throw RPCError(.notFound, "node \(request.id) not found") }
            state.nodes[request.id]!.state = .draining
            return state.nodes[request.id]!
        }
    }

    func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        let spec = request.spec
        guard spec.command.isEmpty != spec.argv.isEmpty else {
            throw RPCError(.invalidArgument, "spec: expected exactly one of command and argv")
        }
        return state.withLock { state in
            let job = Orchion_V1_Job.with {
                $0.id = "job-\(state.nextJob)"
                $0.spec = spec
                $0.state = .pending
            }
            state.nextJob += 1
            state.jobs[job.id] = job
            return job
        }
    }

    func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    {
        let jobs = state.withLock { $0.jobs.values.sorted { $0.id < $1.id } }
        return .with { $0.jobs = jobs.filter { request.state == .unspecified || $0.state == request.state } }
    }

    func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        guard let job = state.withLock({ $0.jobs[request.id] }) else {
            throw RPCError(.notFound, "job \(request.id) not found")
        }
        return job
    }

    func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        try state.withLock { state in
            guard state.jobs[request.id] != nil else { throw RPCError(.notFound, "job \(request.id) not found") }
            state.jobs[request.id]!.state = .cancelled
            state.jobs[request.id]!.reason = request.reason
            return state.jobs[request.id]!
        }
    }

    /// Three chunks, then (when following) one more every 50 ms until the peer leaves.
    func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        if request.jobID == "quiet" { return }  // A job with no output: the stream ends without a message.
        if request.jobID == "silent" {  // A running job that prints nothing: no message until the peer leaves.
            do {
                while true { try await Task.sleep(for: .milliseconds(100)) }
            } catch {
                state.withLock { $0.cancelledStreams += 1 }
                throw error
            }
        }
        guard state.withLock({ $0.jobs[request.jobID] }) != nil else {
            throw RPCError(.notFound, "job \(request.jobID) not found")
        }
        var offset: UInt64 = 0
        func chunk(_ text: String) -> Orchion_V1_LogChunk {
            defer { offset += UInt64(text.utf8.count) }
            return .with {
                $0.jobID = request.jobID
                $0.attempt = 1
                $0.stream = .stdout
                $0.offset = offset
                $0.data = Data(text.utf8)
            }
        }
        for line in ["one\n", "two\n", "three\n"] { try await stream.send(chunk(line)) }
        guard request.follow else { return }
        do {
            while true {
                try await Task.sleep(for: .milliseconds(50))
                try await stream.send(chunk("tick\n"))
            }
        } catch {
            state.withLock { $0.cancelledStreams += 1 }
            throw error
        }
    }

    /// Events numbered from `after + 1`, every 20 ms, until the peer leaves.
    func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws {
        var sequence = request.after
        do {
            while true {
                sequence += 1
                try await stream.send(
                    .with {
                        $0.jobID = request.jobID.isEmpty ? "job-1" : request.jobID
                        $0.state = .running
                        $0.sequence = sequence
                    })
                try await Task.sleep(for: .milliseconds(20))
            }
        } catch {
            state.withLock { $0.cancelledStreams += 1 }
            throw error
        }
    }

    func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    {
        .with { $0.plugins = state.withLock { $0.plugins } }
    }

    func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try setCordoned(request.id, true)
    }

    func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        try setCordoned(request.id, false)
    }

    private func setCordoned(_ id: String, _ cordoned: Bool) throws -> Orchion_V1_Node {
        try state.withLock { state in
            guard var node = state.nodes[id] else { throw RPCError(.notFound, "node \(id) not found") }
            node.cordoned = cordoned
            state.nodes[id] = node
            return node
        }
    }

    func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        .with {
            $0.defaultStrategy = state.withLock { $0.defaultStrategy }
            $0.strategies = ["bin-packing", "spread"]
        }
    }

    func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        guard ["bin-packing", "spread"].contains(request.defaultStrategy) else {
            throw RPCError(.invalidArgument, "no strategy named \(request.defaultStrategy)")
        }
        state.withLock { $0.defaultStrategy = request.defaultStrategy }
        return try await getScheduler(Orchion_V1_GetSchedulerRequest(), context: context)
    }
}
