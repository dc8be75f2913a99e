import Glibc
import OrchionLoop
import OrchionProto
import OrchionServer
import OrchionWire

/// The control API over a fixed, in-memory cluster of four nodes, for load
/// generators: what `GET /v1/nodes` and `ListNodes` cost in the transport
/// and the JSON/protobuf encoding, without a control plane behind them.
struct BenchControl: ControlServiceHandler {
    /// Every ListNodes reply differs (a new telemetry sample), so none is
    /// served from the REST encode cache: the cost of encoding each time.
    let fresh: Bool

    let nodes: Orchion_V1_ListNodesResponse = .with { response in
        response.nodes = (1...4).map { index in
            .with {
                $0.id = "node-\(index)"
                $0.hostname = "rack-\(index)"
                $0.state = .ready
                $0.capabilities = .with {
                    $0.arch = index.isMultiple(of: 2) ? "aarch64" : "x86_64"
                    $0.cpuCores = 8
                }
                $0.capacity = .with {
                    $0.cpuMillis = 8000
                    $0.memoryBytes = 16 << 30
                }
            }
        }
    }

    func listNodes(_ request: Orchion_V1_ListNodesRequest, context: CallContext) async throws
        -> Orchion_V1_ListNodesResponse
    {
        guard fresh else { return nodes }
        var sample = nodes
        sample.nodes[0].telemetry.cpuUtilization = Double.random(in: 0..<1)
        return sample
    }

    func getNode(_ request: Orchion_V1_GetNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        guard let node = nodes.nodes.first(where: { $0.id == request.id }) else {
            throw RPCError(.notFound, request.id)
        }
        return node
    }

    func drainNode(_ request: Orchion_V1_DrainNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        throw RPCError(.unimplemented, "read-only benchmark server")
    }

    func submitJob(_ request: Orchion_V1_SubmitJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        throw RPCError(.unimplemented, "read-only benchmark server")
    }

    func listJobs(_ request: Orchion_V1_ListJobsRequest, context: CallContext) async throws
        -> Orchion_V1_ListJobsResponse
    {
        Orchion_V1_ListJobsResponse()
    }

    func getJob(_ request: Orchion_V1_GetJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        throw RPCError(.notFound, request.id)
    }

    func cancelJob(_ request: Orchion_V1_CancelJobRequest, context: CallContext) async throws -> Orchion_V1_Job {
        throw RPCError(.notFound, request.id)
    }

    func followLogs(
        _ request: Orchion_V1_FollowLogsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        throw RPCError(.notFound, request.jobID)
    }

    func watchEvents(
        _ request: Orchion_V1_WatchEventsRequest, context: CallContext, stream: ResponseStream<Orchion_V1_JobEvent>
    ) async throws {}

    func listPlugins(_ request: Orchion_V1_ListPluginsRequest, context: CallContext) async throws
        -> Orchion_V1_ListPluginsResponse
    {
        Orchion_V1_ListPluginsResponse()
    }

    func cordonNode(_ request: Orchion_V1_CordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        throw RPCError(.unimplemented, "read-only benchmark server")
    }

    func uncordonNode(_ request: Orchion_V1_UncordonNodeRequest, context: CallContext) async throws -> Orchion_V1_Node {
        throw RPCError(.unimplemented, "read-only benchmark server")
    }

    func getScheduler(_ request: Orchion_V1_GetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        throw RPCError(.unimplemented, "read-only benchmark server")
    }

    func setScheduler(_ request: Orchion_V1_SetSchedulerRequest, context: CallContext) async throws
        -> Orchion_V1_SchedulerSettings
    {
        throw RPCError(.unimplemented, "read-only benchmark server")
    }
}

/// Serves BenchControl on 127.0.0.1 (a free port, printed as "port N") with
/// the client token "bench-token", until SIGTERM or SIGINT. `--fresh` makes
/// every ListNodes reply a new message. `--tls DIR` serves TLS too, with a
/// cluster CA made in DIR (its `ca.crt` for clients), as `orchion server`
/// does; plaintext is then still served (the peers are loopback).
func serveForBenchmark() throws -> Never {
    let fresh = CommandLine.arguments.contains("--fresh")
    var context: TLSServerContext?
    if let flag = CommandLine.arguments.firstIndex(of: "--tls"), flag + 1 < CommandLine.arguments.count {
        var names = SubjectNames()
        for name in ["localhost", "127.0.0.1"] { names.add(name) }
        context = try ClusterCA.prepare(directory: CommandLine.arguments[flag + 1], names: names).context()
    }
    let loop = try EventLoop()
    loop.execute { [context] in
        do {
            let tls = context.map { context in WireTLS { context } }
            let server = try APIServer.start(
                loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0), tls: tls,
                authenticator: Authenticator(joinToken: nil, clientTokens: ["bench": "bench-token"]),
                control: BenchControl(fresh: fresh))
            let line = Array("port \(server.address.port)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            let terminate = try SignalWatcher(loop: loop)
            let interrupt = try SignalWatcher(loop: loop)
            let stop = {
                server.close()
                terminate.close()
                interrupt.close()
                loop.stop()
            }
            try terminate.start(SIGTERM) { _ in stop() }
            try interrupt.start(SIGINT) { _ in stop() }
        } catch {
            let line = Array("cannot serve: \(error)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            exit(1)
        }
    }
    loop.run()
    exit(0)
}
