import ClusterTestSupport
import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import Synchronization

/// An agent for tests speaking the real protocol over gRPC: registers,
/// heartbeats, records what the server sends, and runs assignments as the
/// test directs (acknowledge, start, finish) — no processes, so a test
/// controls exactly when each attempt moves.
final class TestAgent: Sendable {
    struct Received: Sendable {
        var registered: Orchion_V1_Registered?
        var assignments: [Orchion_V1_Assignment] = []
        var cancels: [Orchion_V1_Cancel] = []
        var configs: [Orchion_V1_ConfigUpdate] = []
        var ended: (any Error)?
        var streamEnded = false
    }

    let id: String
    private let client: GRPCClient
    private let writer: RequestWriter<Orchion_V1_AgentMessage>
    private let state = Mutex(Received())
    private let heartbeats: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let sequence = Atomic<UInt64>(0)
    /// Answer every assignment with SCHEDULED then RUNNING at once.
    let autoStart: Bool

    /// Connects to `server` and registers node `id` (on `hostname`, else
    /// "host-<id>") with this capacity, labels and GPUs, reporting `running`
    /// as still running; `adjust` edits the Register message last.
    init(
        _ id: String, server: SocketAddress, loop: EventLoop, token: String = ServerProcess.joinToken,
        hostname: String? = nil, cpuMillis: UInt64 = 4000, memoryBytes: UInt64 = 8 << 30, arch: String = "x86_64",
        labels: [String: String] = [:], gpus: [Orchion_V1_GPU] = [], running: [Orchion_V1_RunningJob] = [],
        autoStart: Bool = true, heartbeatEvery: Duration? = .milliseconds(100),
        adjust: (inout Orchion_V1_Register) -> Void = { _ in }
    ) async throws {
        self.id = id
        self.autoStart = autoStart
        client = try await GRPCClient.connect(loop: loop, to: server, token: token)
        let (writer, replies) = client.bidirectional(
            "/orchion.v1.AgentService/Connect", sending: Orchion_V1_AgentMessage.self,
            receiving: Orchion_V1_ServerMessage.self)
        self.writer = writer
        try await writer.send(
            .with {
                $0.register = .with {
                    $0.nodeID = id
                    $0.hostname = hostname ?? "host-\(id)"
                    $0.capabilities = .with {
                        $0.arch = arch
                        $0.cpuCores = UInt32(cpuMillis / 1000)
                        $0.memoryBytes = memoryBytes
                        $0.gpus = gpus
                        $0.executors = ["exec"]
                    }
                    $0.capacity = .with {
                        $0.cpuMillis = cpuMillis
                        $0.memoryBytes = memoryBytes
                    }
                    $0.labels = labels
                    $0.running = running
                }
                adjust(&$0.register)
            })
        Task { [self] in
            do {
                for try await message in replies { await take(message) }
                self.state.withLock { $0.streamEnded = true }
            } catch {
                self.state.withLock {
                    $0.ended = error
                    $0.streamEnded = true
                }
            }
        }
        if let heartbeatEvery {
            let task = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeatEvery)
                    try? await heartbeat()
                }
            }
            heartbeats.withLock { $0 = task }
        }
    }

    private func take(_ message: Orchion_V1_ServerMessage) async {
        switch message.body {
        case .registered(let registered)?: state.withLock { $0.registered = registered }
        case .assignment(let assignment)?:
            state.withLock { $0.assignments.append(assignment) }
            if autoStart {
                try? await report(assignment.job.id, attempt: assignment.attempt, .scheduled)
                try? await report(assignment.job.id, attempt: assignment.attempt, .running)
            }
        case .cancel(let cancel)?: state.withLock { $0.cancels.append(cancel) }
        case .config(let config)?: state.withLock { $0.configs.append(config) }
        case nil: break
        }
    }

    var received: Received { state.withLock { $0 } }

    /// Sends a heartbeat with `telemetry` (by default 25% CPU, sampled now).
    func heartbeat(_ telemetry: Orchion_V1_Telemetry? = nil) async throws {
        let number = sequence.add(1, ordering: .relaxed).newValue
        try await writer.send(
            .with {
                $0.heartbeat = .with {
                    $0.sequence = number
                    $0.telemetry =
                        telemetry
                        ?? .with {
                            $0.cpuUtilization = 0.25
                            $0.sampledAt = .init(date: Date())
                        }
                }
            })
    }

    /// Reports attempt `attempt` of `job` in `state` (with an exit for ends).
    func report(
        _ job: String, attempt: UInt32, _ jobState: Orchion_V1_JobState, exitCode: Int64 = 0, reason: String = "",
        retryable: Bool = false
    ) async throws {
        try await writer.send(
            .with {
                $0.jobEvent = .with {
                    $0.jobID = job
                    $0.attempt = attempt
                    $0.state = jobState
                    $0.exitCode = exitCode
                    $0.reason = reason
                    $0.retryable = retryable
                    $0.at = .init(date: Date())
                }
            })
    }

    /// Sends a piece of attempt `attempt`'s output at `offset` of its stream.
    func log(_ job: String, attempt: UInt32, _ stream: Orchion_V1_LogStream, offset: UInt64, _ text: String)
        async throws
    {
        try await writer.send(
            .with {
                $0.logChunk = .with {
                    $0.jobID = job
                    $0.attempt = attempt
                    $0.stream = stream
                    $0.offset = offset
                    $0.data = Data(text.utf8)
                    $0.at = .init(date: Date())
                }
            })
    }

    /// Stops heartbeating (the stream stays open): the node goes silent.
    func silence() {
        heartbeats.withLock {
            $0?.cancel()
            $0 = nil
        }
    }

    /// Stops heartbeating and closes the connection.
    func disconnect() async {
        silence()
        await client.close()
    }
}
