// `orchion-bench control [--quick] [--agents 1000,5000,10000]`: the control
// plane end to end. Starts the real `orchion server` (beside this
// executable) as a child on 127.0.0.1, simulates agents over the real
// protocol from this process, and prints Markdown tables:
//   - N agents at one heartbeat a second each: server CPU and RSS, the
//     heartbeat's lag to the registry;
//   - submit → assigned (placed and reserved, seen on WatchEvents) and
//     submit → delivered (the Assignment at the agent), idle and under the
//     largest N;
//   - durable submissions/s acknowledged end to end.
import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire
import Synchronization

struct ControlOptions {
    var quick = false
    var agentCounts = [1_000, 5_000, 10_000]

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": quick = true
            case "--agents":
                let list = rest.popFirst() ?? ""
                let counts = list.split(separator: ",").map { Int($0) }
                guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) > 0 }) else {
                    throw BenchError("--agents: expected counts like 1000,5000,10000, found '\(list)'")
                }
                agentCounts = counts.compactMap { $0 }
            default: throw BenchError("control: unknown option \(argument)")
            }
        }
    }

    /// Seconds of warm-up and of measurement for each agent count.
    var warmUp: Double { quick ? 3 : 10 }
    var window: Double { quick ? 3 : 10 }
    /// Submissions timed one at a time (after `latencyWarmUp` untimed ones).
    var latencySubmits: Int { quick ? 50 : 1_000 }
    var latencyWarmUp: Int { quick ? 10 : 100 }
}

/// Runs the benchmark, prints its tables, exits: 0, or 1 with the reason.
func controlBenchmark(_ arguments: [String]) -> Never {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        Glibc.signal(signal) { _ in
            killServerChild()
            _exit(130)
        }
    }
    let outcome = Outcome()
    let done = CountingSemaphore(0)
    Task {
        do {
            try await ControlBench(ControlOptions(arguments)).run()
        } catch {
            outcome.failure.withLock { $0 = "\(error)" }
        }
        done.post()
    }
    done.wait()
    killServerChild()
    if let failure = outcome.failure.withLock({ $0 }) {
        writeLine(2, "orchion-bench control: \(failure)\n")
        exit(1)
    }
    exit(0)
}

/// How the benchmark's task ended.
private final class Outcome: Sendable {
    let failure = Mutex<String?>(nil)
}

/// What the submitting tasks of the throughput run share.
private final class SubmitLoad: Sendable {
    let acknowledged = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let measuring = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let latencies = Mutex(Samples())
}

/// The server's settings for every run: beats held at one a second whatever
/// the node count (the default rule would stretch the interval to keep the
/// server under 500 beats/s), no stagger (the agents spread their beats
/// themselves), and room for every agent's connection.
private func serverEnvironment(agents: Int) -> [String: String] {
    [
        "ORCHION_HEARTBEAT_MIN_INTERVAL": "1s",
        "ORCHION_HEARTBEAT_MAX_HEARTBEATS_PER_SECOND": "1000000",
        "ORCHION_HEARTBEAT_JITTER": "0",
        "ORCHION_WIRE_MAX_CONNECTIONS": "\(max(4096, agents + 256))",
    ]
}

/// A job as the latency and throughput runs submit it: `true`, 0.1 CPU, 1 MiB.
private let benchSpec = Orchion_V1_JobSpec.with {
    $0.command = "true"
    $0.resources = .with {
        $0.cpuMillis = 100
        $0.memoryBytes = 1 << 20
    }
}

/// Sorted samples (seconds) and their percentiles, printed in milliseconds.
struct Samples {
    var values: [Double] = []

    mutating func add(_ value: Double) { values.append(value) }

    func percentile(_ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    /// "p50 / p99" in ms, or "n/a".
    var millis: String {
        guard let p50 = percentile(0.5), let p99 = percentile(0.99) else { return "n/a" }
        return "\(String(format3: p50 * 1000)) / \(String(format3: p99 * 1000))"
    }
}

/// This process's user plus system CPU seconds.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

private struct FleetRow {
    var agents = 0
    var heartbeatsPerSecond = 0.0
    /// Heartbeats/s the server counted (orchion_heartbeats_total), if it serves /metrics.
    var serverHeartbeats: Double?
    var serverCPU = 0.0
    var serverRSSKiB = 0
    var lag = "n/a"
    var roundTrip = Samples()
    var generatorCPU = 0.0
    var failed = 0
}

private struct LatencyRow {
    var cluster = ""
    var assigned = Samples()
    var delivered = Samples()
    var acknowledged = Samples()
    /// A unary GetJob's round trip on the same connection: the floor of
    /// what this client can time.
    var roundTrip = Samples()
    var missing = 0
}

private struct ThroughputRow {
    var inFlight = 0
    var connections = 0
    var seconds = 0.0
    var acknowledged = 0
    var failed = 0
    var serverCPU = 0.0
    var generatorCPU = 0.0
    var latency = Samples()
    /// orchion_jobs_submitted_total's growth over the window (a cross-check).
    var acknowledgedByServer: Double?
}

final class ControlBench: Sendable {
    let options: ControlOptions
    let scratch: String
    let loops: [LoopThread]

    init(_ options: ControlOptions) throws {
        self.options = options
        let largest = options.agentCounts.max() ?? 0
        // Each agent is a socket here and one in the server, plus slack.
        try raiseOpenFileLimit(to: largest + 512)
        scratch = makeScratchDirectory("orchion-control-bench")
        loops = try (0..<2).map { _ in try LoopThread() }
    }

    func run() async throws {
        defer { removeTree(scratch) }
        var latencies: [LatencyRow] = []
        var fleets: [FleetRow] = []

        // Submit → assigned on an idle cluster: one agent.
        latencies.append(
            try await withServer("idle", agents: 1) { server in
                let fleet = try AgentFleet(loopThreads: 1)
                defer { Task { await fleet.shutdown() } }
                try await fleet.connect(1, prefix: "idle", server: server.address, timeout: 30)
                fleet.startHeartbeats()
                return try await self.submitLatencies(server, fleet: fleet, cluster: "idle: 1 agent")
            })

        // Durable submissions/s, end to end, no agent (jobs wait in the
        // queue): a fresh server for each number of calls in flight.
        var throughput: [ThroughputRow] = []
        for perConnection in [16, 64] {
            throughput.append(
                try await withServer("submit-\(perConnection)", agents: 0) { server in
                    try await self.submitThroughput(server, connections: 4, perConnection: perConnection)
                })
        }

        for count in options.agentCounts {
            let (row, latency) = try await withServer("agents-\(count)", agents: count) { server in
                try await self.fleetRun(server, agents: count, withLatency: count == options.agentCounts.max())
            }
            fleets.append(row)
            if let latency { latencies.append(latency) }
        }
        printTables(fleets: fleets, latencies: latencies, throughput: throughput)
    }

    /// Runs `body` against a fresh server, stopping it afterwards whatever happens.
    private func withServer<T>(_ label: String, agents: Int, _ body: (ServerChild) async throws -> T) async throws -> T
    {
        let server = try ServerChild(scratch: scratch, label: label, environment: serverEnvironment(agents: agents))
        do {
            let result = try await body(server)
            server.stop()
            return result
        } catch {
            let tail = server.logTail()
            server.stop()
            throw BenchError("\(error)\nlast lines of the server's log:\n\(tail)")
        }
    }

    private func controlClient(_ server: ServerChild, loop: Int = 0) async throws -> GRPCClient {
        try await GRPCClient.connect(
            loop: loops[loop % loops.count].loop, to: server.address, token: ServerChild.clientToken)
    }

    // MARK: Agents at one heartbeat a second

    private func fleetRun(_ server: ServerChild, agents count: Int, withLatency: Bool) async throws -> (
        FleetRow, LatencyRow?
    ) {
        let fleet = try AgentFleet(loopThreads: 4)
        defer { Task { await fleet.shutdown() } }
        try await fleet.connect(count, prefix: "node", server: server.address, timeout: 300)
        fleet.startHeartbeats()
        try await Task.sleep(for: .milliseconds(Int(options.warmUp * 1000)))

        let control = try await controlClient(server)
        let before = try await MetricsScrape.fetch(port: server.port)
        let probe = Task { try await self.probe(fleet, control: control, until: now() + self.options.window) }
        let (cpu0, own0, sent0, start) = (
            server.cpuSeconds() ?? 0, ownCPUSeconds(), fleet.heartbeatsSent.load(ordering: .relaxed), now()
        )
        try await Task.sleep(for: .milliseconds(Int(options.window * 1000)))
        let (cpu1, own1, sent1, end) = (
            server.cpuSeconds() ?? 0, ownCPUSeconds(), fleet.heartbeatsSent.load(ordering: .relaxed), now()
        )
        var row = FleetRow()
        row.agents = count
        row.serverRSSKiB = server.residentKiB() ?? 0
        row.serverCPU = (cpu1 - cpu0) / (end - start) * 100
        row.generatorCPU = (own1 - own0) / (end - start) * 100
        row.heartbeatsPerSecond = Double(sent1 - sent0) / (end - start)
        row.roundTrip = try await probe.value
        let after = try await MetricsScrape.fetch(port: server.port)
        row.lag = MetricsScrape.lag(before: before, after: after)
        row.serverHeartbeats = MetricsScrape.delta("orchion_heartbeats_total", before: before, after: after)
            .map { $0 / (end - start) }
        row.failed = fleet.heartbeatsFailed.load(ordering: .relaxed) + fleet.streamsEnded.load(ordering: .relaxed)
        guard fleet.streamsEnded.load(ordering: .relaxed) == 0 else {
            throw BenchError(
                "expected every agent stream open, found \(fleet.streamsEnded.load(ordering: .relaxed)) ended")
        }
        var latency: LatencyRow?
        if withLatency {
            latency = try await submitLatencies(server, fleet: fleet, cluster: "\(count) agents beating 1/s")
        }
        await control.close()
        return (row, latency)
    }

    /// Heartbeat → registry as the API sees it: every 100 ms one agent beats
    /// and GetNode is polled until the node shows that sample (or a later one).
    private func probe(_ fleet: AgentFleet, control: GRPCClient, until deadline: Double) async throws -> Samples {
        let agents = fleet.all
        var samples = Samples()
        var index = 0
        while now() < deadline {
            let agent = agents[index % agents.count]
            index += 7919
            let start = now()
            let sent = try await agent.heartbeat()
            while now() - start < 5 {
                let node: Orchion_V1_Node = try await control.unary(
                    "/orchion.v1.ControlService/GetNode", Orchion_V1_GetNodeRequest.with { $0.id = agent.id },
                    timeoutMillis: 5_000)
                let seen = node.telemetry.sampledAt
                if seen.seconds > sent.seconds || (seen.seconds == sent.seconds && seen.nanos >= sent.nanos) {
                    samples.add(now() - start)
                    break
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return samples
    }

    // MARK: Submit → assigned

    private func submitLatencies(_ server: ServerChild, fleet: AgentFleet, cluster: String) async throws -> LatencyRow {
        let control = try await controlClient(server)
        let watcher = try await controlClient(server, loop: 1)
        let arrivals = fleet.arrivals
        let events = watcher.serverStreaming(
            "/orchion.v1.ControlService/WatchEvents", Orchion_V1_WatchEventsRequest(), as: Orchion_V1_JobEvent.self)
        let watching = Task {
            for try await event in events where event.state == .scheduled {
                arrivals.scheduled(event.jobID, at: now())
            }
        }
        defer { watching.cancel() }
        var row = LatencyRow()
        row.cluster = cluster
        for index in 0..<(options.latencyWarmUp + options.latencySubmits) {
            let start = now()
            let job: Orchion_V1_Job = try await control.unary(
                "/orchion.v1.ControlService/SubmitJob", Orchion_V1_SubmitJobRequest.with { $0.spec = benchSpec },
                timeoutMillis: 10_000)
            let acknowledged = now()
            let times = await arrivals.wait(for: job.id, timeout: 10)
            guard index >= options.latencyWarmUp else { continue }
            row.acknowledged.add(acknowledged - start)
            if let scheduled = times.scheduled { row.assigned.add(scheduled - start) }
            if let delivered = times.delivered { row.delivered.add(delivered - start) }
            if times.scheduled == nil || times.delivered == nil { row.missing += 1 }
            let asked = now()
            let _: Orchion_V1_Job = try await control.unary(
                "/orchion.v1.ControlService/GetJob", Orchion_V1_GetJobRequest.with { $0.id = job.id },
                timeoutMillis: 10_000)
            row.roundTrip.add(now() - asked)
        }
        await watcher.close()
        await control.close()
        return row
    }

    // MARK: Durable submissions/s

    /// `connections` × `perConnection` SubmitJob calls kept in flight;
    /// counts the replies (each sent once the job is durable) in the window.
    private func submitThroughput(_ server: ServerChild, connections: Int, perConnection: Int) async throws
        -> ThroughputRow
    {
        let clients = try await (0..<connections).asyncMap { try await self.controlClient(server, loop: $0) }
        let load = SubmitLoad()
        var workers: [Task<Void, Never>] = []
        for client in clients {
            for _ in 0..<perConnection {
                workers.append(
                    Task {
                        var mine = Samples()
                        while !load.stop.load(ordering: .relaxed) {
                            let start = now()
                            do {
                                let _: Orchion_V1_Job = try await client.unary(
                                    "/orchion.v1.ControlService/SubmitJob",
                                    Orchion_V1_SubmitJobRequest.with { $0.spec = benchSpec }, timeoutMillis: 10_000)
                                if load.measuring.load(ordering: .relaxed) {
                                    load.acknowledged.add(1, ordering: .relaxed)
                                    mine.add(now() - start)
                                }
                            } catch {
                                load.failed.add(1, ordering: .relaxed)
                            }
                        }
                        let taken = mine
                        load.latencies.withLock { $0.values.append(contentsOf: taken.values) }
                    })
            }
        }
        try await Task.sleep(for: .seconds(options.quick ? 1 : 2))
        let before = try await MetricsScrape.fetch(port: server.port)
        let (cpu0, own0, start) = (server.cpuSeconds() ?? 0, ownCPUSeconds(), now())
        load.measuring.store(true, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(Int(options.window * 1000)))
        load.measuring.store(false, ordering: .relaxed)
        let (cpu1, own1, end) = (server.cpuSeconds() ?? 0, ownCPUSeconds(), now())
        let after = try await MetricsScrape.fetch(port: server.port)
        load.stop.store(true, ordering: .relaxed)
        for worker in workers { await worker.value }
        for client in clients { await client.close() }
        var row = ThroughputRow()
        row.inFlight = connections * perConnection
        row.connections = connections
        row.seconds = end - start
        row.acknowledged = load.acknowledged.load(ordering: .relaxed)
        row.failed = load.failed.load(ordering: .relaxed)
        row.serverCPU = (cpu1 - cpu0) / (end - start) * 100
        row.generatorCPU = (own1 - own0) / (end - start) * 100
        row.latency = load.latencies.withLock { $0 }
        row.acknowledgedByServer = MetricsScrape.delta("orchion_jobs_submitted_total", before: before, after: after)
        return row
    }

    // MARK: Output

    private func printTables(fleets: [FleetRow], latencies: [LatencyRow], throughput: [ThroughputRow]) {
        print(
            "| agents (1 heartbeat/s each) | heartbeats/s sent / counted by the server | server CPU, % of one core | server RSS MiB | heartbeat lag p50 / p99 ms (server's histogram, 1 ms resolution) | heartbeat → GetNode p50 / p99 ms | load generator CPU % | failed |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in fleets {
            let counted = row.serverHeartbeats.map { "\(Int($0))" } ?? "n/a"
            print(
                "| \(row.agents) | \(Int(row.heartbeatsPerSecond)) / \(counted) | \(String(format1: row.serverCPU)) | \(row.serverRSSKiB / 1024) | \(row.lag) | \(row.roundTrip.millis) | \(String(format1: row.generatorCPU)) | \(row.failed) |"
            )
        }
        print("")
        print(
            "| cluster | submits | submit → assigned p50 / p99 ms | submit → delivered p50 / p99 ms | submit → acknowledged p50 / p99 ms | GetJob round trip p50 / p99 ms (floor) | incomplete |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in latencies {
            print(
                "| \(row.cluster) | \(row.acknowledged.values.count) | \(row.assigned.millis) | \(row.delivered.millis) | \(row.acknowledged.millis) | \(row.roundTrip.millis) | \(row.missing) |"
            )
        }
        print("")
        print(
            "| workload | durable submissions/s | acknowledged (client / server's counter) | seconds | ack latency p50 / p99 ms | server CPU, % of one core | load generator CPU % | failed |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        var rate = 0.0
        for row in throughput {
            let rowRate = Double(row.acknowledged) / max(row.seconds, 1e-9)
            rate = max(rate, rowRate)
            print(
                "| SubmitJob over gRPC, \(row.inFlight) in flight on \(row.connections) connections, no agents | \(Int(rowRate)) | \(row.acknowledged) / \(row.acknowledgedByServer.map { "\(Int($0))" } ?? "n/a") | \(String(format1: row.seconds)) | \(row.latency.millis) | \(String(format1: row.serverCPU)) | \(String(format1: row.generatorCPU)) | \(row.failed) |"
            )
        }
        print("")
        if let largest = fleets.max(by: { $0.agents < $1.agents }) {
            let met = largest.agents >= 10_000 && largest.serverCPU < 50
            print(
                "Targets: \(largest.agents) agents on \(String(format1: largest.serverCPU))% of one core (target: 10,000 under 50%: \(met ? "met" : "not met"));"
            )
        }
        if let idle = latencies.first, let p50 = idle.assigned.percentile(0.5) {
            print(
                "submit → assigned p50 idle \(String(format3: p50 * 1000)) ms (target ≤ 1 ms: \(p50 <= 0.001 ? "met" : "not met"));"
            )
        }
        print(
            "durable submissions/s \(Int(rate)), the best row (target ≥ 10,000: \(rate >= 10_000 ? "met" : "not met"))."
        )
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
