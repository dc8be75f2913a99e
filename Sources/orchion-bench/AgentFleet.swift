// Simulated agents for `orchion-bench control`: each its own TCP + HTTP/2
// connection and AgentService.Connect stream, speaking the real protocol.
import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire
import Synchronization

/// When each submitted job was seen placed (its SCHEDULED event on a
/// WatchEvents stream) and delivered (its Assignment at the agent), on this
/// process's monotonic clock.
///
/// Threading: any thread.
final class Arrivals: Sendable {
    struct Times: Sendable {
        var scheduled: Double?
        var delivered: Double?
    }

    private struct Entry {
        var times = Times()
        var waiter: CheckedContinuation<Times, Never>?
    }

    private let entries = Mutex<[String: Entry]>([:])

    func scheduled(_ jobID: String, at time: Double) {
        update(jobID) { if $0.scheduled == nil { $0.scheduled = time } }
    }

    func delivered(_ jobID: String, at time: Double) {
        update(jobID) { if $0.delivered == nil { $0.delivered = time } }
    }

    private func update(_ jobID: String, _ change: (inout Times) -> Void) {
        let resume: (CheckedContinuation<Times, Never>, Times)? = entries.withLock { entries in
            var entry = entries[jobID, default: Entry()]
            change(&entry.times)
            if let waiter = entry.waiter, entry.times.scheduled != nil, entry.times.delivered != nil {
                entries[jobID] = nil
                return (waiter, entry.times)
            }
            entries[jobID] = entry
            return nil
        }
        if let (waiter, times) = resume { waiter.resume(returning: times) }
    }

    /// Both times of `jobID` once known, or what is known after `timeout` seconds.
    func wait(for jobID: String, timeout: Double) async -> Times {
        let expiry = Task {
            try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
            self.expire(jobID)
        }
        defer { expiry.cancel() }
        return await withCheckedContinuation { continuation in
            let ready: Times? = entries.withLock { entries in
                var entry = entries[jobID, default: Entry()]
                if entry.times.scheduled != nil, entry.times.delivered != nil {
                    entries[jobID] = nil
                    return entry.times
                }
                entry.waiter = continuation
                entries[jobID] = entry
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func expire(_ jobID: String) {
        let resume: (CheckedContinuation<Times, Never>, Times)? = entries.withLock { entries in
            guard let waiter = entries[jobID]?.waiter, let times = entries[jobID]?.times else { return nil }
            entries[jobID] = nil
            return (waiter, times)
        }
        if let (waiter, times) = resume { waiter.resume(returning: times) }
    }
}

/// The wall clock as a protobuf timestamp (Telemetry.sampled_at).
func wallClockTimestamp() -> (seconds: Int64, nanos: Int32) {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return (Int64(time.tv_sec), Int32(time.tv_nsec))
}

/// One simulated agent: registers node `id`, heartbeats when the fleet says,
/// and runs every assignment at once (SCHEDULED, RUNNING, SUCCEEDED).
///
/// Threading: any thread; its calls run on its client's loop.
final class SimulatedAgent: Sendable {
    let id: String
    /// Where in each second this agent beats (0..<1).
    let phase: Double
    let loop: EventLoop
    private let client: GRPCClient
    private let writer: RequestWriter<Orchion_V1_AgentMessage>
    private let sequence = Atomic<UInt64>(0)
    /// CPU (and GPU) use its heartbeats report, 0–1.
    private let load: Double
    private let gpus: Int
    private let memoryUsed: UInt64

    /// `hardware` replaces the default capabilities (8 x86_64 cores, 16 GiB).
    init(
        id: String, phase: Double, loop: EventLoop, server: SocketAddress, fleet: AgentFleet,
        hardware: Orchion_V1_Capabilities? = nil
    ) async throws {
        self.id = id
        self.phase = phase
        self.loop = loop
        // Defaults: 25 % and 4 GiB; with given hardware, a use that differs from node to node.
        load = hardware == nil ? 0.25 : 0.05 + 0.9 * (phase * 7.31).truncatingRemainder(dividingBy: 1)
        gpus = hardware?.gpus.count ?? 0
        memoryUsed =
            hardware.map {
                UInt64(Double($0.memoryBytes) * (0.1 + 0.6 * (phase * 3.7).truncatingRemainder(dividingBy: 1)))
            } ?? 4 << 30
        client = try await GRPCClient.connect(loop: loop, to: server, token: ServerChild.joinToken)
        let (writer, replies) = client.bidirectional(
            "/orchion.v1.AgentService/Connect", sending: Orchion_V1_AgentMessage.self,
            receiving: Orchion_V1_ServerMessage.self)
        self.writer = writer
        try await writer.send(
            .with {
                $0.register = .with {
                    $0.nodeID = id
                    $0.hostname = "host-\(id)"
                    $0.capabilities = .with {
                        $0.arch = "x86_64"
                        $0.cpuCores = 8
                        $0.memoryBytes = 16 << 30
                        $0.executors = ["exec"]
                    }
                    if let hardware { $0.capabilities = hardware }
                    let capabilities = $0.capabilities
                    $0.capacity = .with {
                        $0.cpuMillis = UInt64(capabilities.cpuCores) * 1000
                        $0.memoryBytes = capabilities.memoryBytes
                        $0.gpus = UInt32(clamping: capabilities.gpus.count)
                    }
                    $0.labels = ["rack": "r\(id.utf8.count % 8)"]
                }
            })
        Task(executorPreference: loop) {
            do {
                for try await message in replies {
                    switch message.body {
                    case .registered?: fleet.registered.add(1, ordering: .relaxed)
                    case .assignment(let assignment)?:
                        fleet.arrivals.delivered(assignment.job.id, at: now())
                        for state in [Orchion_V1_JobState.scheduled, .running, .succeeded] {
                            try await writer.send(
                                .with {
                                    $0.jobEvent = .with {
                                        $0.jobID = assignment.job.id
                                        $0.attempt = assignment.attempt
                                        $0.state = state
                                    }
                                })
                        }
                    default: break
                    }
                }
            } catch {}
            fleet.streamsEnded.add(1, ordering: .relaxed)
        }
    }

    /// Sends one heartbeat whose telemetry was sampled now; returns the
    /// sample time as sent.
    @discardableResult
    func heartbeat() async throws -> (seconds: Int64, nanos: Int32) {
        let number = sequence.add(1, ordering: .relaxed).newValue
        let sampled = wallClockTimestamp()
        try await writer.send(
            .with {
                $0.heartbeat = .with {
                    $0.sequence = number
                    $0.telemetry = .with {
                        $0.cpuUtilization = load
                        $0.gpus = (0..<gpus).map { index in
                            .with {
                                $0.index = UInt32(index)
                                $0.utilization = load
                            }
                        }
                        $0.memoryUsedBytes = memoryUsed
                        $0.loadAverage1M = 1.5
                        $0.sampledAt = .with {
                            $0.seconds = sampled.seconds
                            $0.nanos = sampled.nanos
                        }
                    }
                }
            })
        return sampled
    }

    func close() async { await client.close() }
}

/// N simulated agents spread over several loop threads, each beating once a
/// second at its own phase so the beats are spread evenly over the second.
///
/// Threading: any thread.
final class AgentFleet: Sendable {
    let threads: [LoopThread]
    let arrivals = Arrivals()
    let registered = Atomic<Int>(0)
    let streamsEnded = Atomic<Int>(0)
    let heartbeatsSent = Atomic<Int>(0)
    let heartbeatsFailed = Atomic<Int>(0)
    private let agents = Mutex<[SimulatedAgent]>([])
    private let tickers = Mutex<[Task<Void, Never>]>([])

    init(loopThreads: Int) throws {
        threads = try (0..<loopThreads).map { _ in try LoopThread() }
    }

    var all: [SimulatedAgent] { agents.withLock { $0 } }

    /// Connects and registers `count` agents (ids `prefix-0`...), at most
    /// `concurrency` connecting at once; returns once the server answered
    /// every Register, or throws after `timeout` seconds.
    func connect(
        _ count: Int, prefix: String, server: SocketAddress, concurrency: Int = 64, timeout: Double,
        hardware: (@Sendable (Int) -> Orchion_V1_Capabilities)? = nil
    ) async throws {
        let start = all.count
        try await withThrowingTaskGroup(of: SimulatedAgent.self) { group in
            var next = 0
            func add() {
                let index = next
                next += 1
                let loop = threads[index % threads.count].loop
                group.addTask {
                    try await SimulatedAgent(
                        id: "\(prefix)-\(index)", phase: Double(index) / Double(count), loop: loop, server: server,
                        fleet: self, hardware: hardware?(index))
                }
            }
            while next < min(count, concurrency) { add() }
            while let agent = try await group.next() {
                agents.withLock { $0.append(agent) }
                if next < count { add() }
            }
        }
        let deadline = now() + timeout
        while registered.load(ordering: .relaxed) < start + count {
            guard now() < deadline else {
                throw BenchError(
                    "expected \(start + count) agents registered within \(Int(timeout)) s, found \(registered.load(ordering: .relaxed))"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts the beats: on each loop, a 5 ms timer sends the heartbeats that
    /// fell due since its last tick, in phase order.
    func startHeartbeats() {
        let everyone = all
        let origin = now()
        for thread in threads {
            let mine = everyone.filter { $0.loop === thread.loop }.sorted { $0.phase < $1.phase }
            guard !mine.isEmpty else { continue }
            let task = Task(executorPreference: thread.loop) {
                var next = 0
                var cycle = 0.0
                while !Task.isCancelled {
                    let time = now()
                    while origin + cycle + mine[next].phase <= time {
                        do {
                            try await mine[next].heartbeat()
                            self.heartbeatsSent.add(1, ordering: .relaxed)
                        } catch {
                            self.heartbeatsFailed.add(1, ordering: .relaxed)
                        }
                        next += 1
                        if next == mine.count {
                            next = 0
                            cycle += 1
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            tickers.withLock { $0.append(task) }
        }
    }

    /// Stops the beats and closes every connection. The loop threads stay
    /// (idle) until the process exits: calls may still be finishing on them.
    func shutdown() async {
        for task in tickers.withLock({ $0 }) { task.cancel() }
        for task in tickers.withLock({ $0 }) { await task.value }
        for agent in all { await agent.close() }
        agents.withLock { $0 = [] }
    }
}
