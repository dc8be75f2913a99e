import Glibc
import OrchionAgent
import OrchionAgentProto
import OrchionLoop
import OrchionPluginHost
import OrchionProto
import OrchionWire

/// `orchion-bench footprint HOST:PORT TOKEN_FILE [--executor FILE]`: the
/// smallest idle agent, for `.ci/bench`'s footprint rows. Discovers the host,
/// optionally loads an executor plugin (the built-in `exec` `.so`), connects
/// the `AgentService.Connect` stream with the join token, registers, then
/// heartbeats with a telemetry sample at the interval the server gave —
/// forever. Prints `registered NODE every N ms` once registered (and sends
/// `READY=1` when `NOTIFY_SOCKET` is set); the bench reads its RSS and CPU
/// time from `/proc` and kills it by PID.
func footprintAgent(_ arguments: [String]) async throws -> Never {
    guard arguments.count >= 2, let colon = arguments[0].lastIndex(of: ":"),
        let port = UInt16(arguments[0][arguments[0].index(after: colon)...])
    else {
        standardError("usage: orchion-bench footprint HOST:PORT TOKEN_FILE [--executor FILE]\n")
        exit(2)
    }
    let host = String(arguments[0][..<colon])
    guard let tokenText = readSmallFile(arguments[1]) else {
        standardError("orchion-bench footprint: cannot read the token file \(arguments[1])\n")
        exit(2)
    }
    let token = String(tokenText.filter { !$0.isWhitespace })
    var executors: [String] = []
    var catalog: ExecutorCatalog?
    if arguments.count >= 4, arguments[2] == "--executor" {
        let library = try PluginLibrary.open(arguments[3])
        let (loaded, failures) = await ExecutorCatalog.load([library])
        guard failures.isEmpty else {
            standardError("orchion-bench footprint: executor failed: \(failures)\n")
            exit(1)
        }
        catalog = loaded
        executors.append(library.info.name)
    }

    let inventory = HostDiscovery(nvmlLibrary: nil, nvidiaSMI: nil).discover()
    var sampler = TelemetrySampler(gpus: inventory.gpus)
    let thread = try LoopThread()
    let client = try await GRPCClient.connect(
        loop: thread.loop, to: SocketAddress(host: host, port: port), token: token)
    let (writer, replies) = client.bidirectional(
        "/orchion.v1.AgentService/Connect", sending: Orchion_V1_AgentMessage.self,
        receiving: Orchion_V1_ServerMessage.self)
    let node = "footprint-\(getpid())"
    try await writer.send(
        .with {
            $0.register = .with {
                $0.nodeID = node
                $0.hostname = inventory.hostname
                $0.capabilities = Orchion_V1_Capabilities(
                    inventory, agentVersion: "footprint", executors: executors)
                $0.capacity = .with {
                    $0.cpuMillis = UInt64(inventory.cpu.threads) * 1000
                    $0.memoryBytes = inventory.memoryBytes
                }
            }
        })
    // One reader for the whole stream: the registration is passed on, anything
    // later (config updates) is read and dropped.
    let (registrations, registered) = AsyncStream<Duration>.makeStream()
    let reader = Task {
        do {
            for try await message in replies {
                if case .registered(let answer)? = message.body {
                    registered.yield(
                        answer.hasHeartbeatInterval
                            ? .seconds(answer.heartbeatInterval.seconds)
                                + .nanoseconds(Int64(answer.heartbeatInterval.nanos)) : .seconds(5))
                }
            }
        } catch {
            standardError("orchion-bench footprint: the stream failed: \(error)\n")
        }
        registered.finish()
    }
    var firstInterval: Duration?
    for await value in registrations {
        firstInterval = value
        break
    }
    guard let interval = firstInterval else {
        standardError("orchion-bench footprint: the stream ended before the server registered the node\n")
        exit(1)
    }
    let (seconds, attoseconds) = interval.components
    print("registered \(node) every \(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms")
    fflush(nil)
    let notifier = NotifySocket.fromEnvironment()
    notifier?.send("READY=1\nSTATUS=registered as \(node)")
    var sequence: UInt64 = 0
    while true {
        try await Task.sleep(for: interval)
        sequence += 1
        let sample = sampler.sample()
        try await writer.send(
            .with {
                $0.heartbeat = .with {
                    $0.sequence = sequence
                    $0.telemetry = Orchion_V1_Telemetry(sample)
                }
            })
        notifier?.send("WATCHDOG=1")
        _ = catalog
        _ = reader
    }
}

/// The contents of a small file, or nil.
private func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count >= 0 else { return nil }
    return String(decoding: buffer.prefix(count), as: UTF8.self)
}
