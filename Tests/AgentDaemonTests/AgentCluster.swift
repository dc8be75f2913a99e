import ClusterTestSupport
import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport

/// One test's cluster: a real `orchion server` and real `orchion agent run`
/// processes on 127.0.0.1. `close` kills them all by PID (and any job the
/// test recorded) and removes the directory.
final class AgentCluster: @unchecked Sendable {
    let server: ServerProcess
    let thread: LoopThread
    private(set) var control: ControlClient
    let jobs: JobPIDs
    private(set) var agents: [AgentUnderTest] = []

    init(strategy: String = "spread") async throws {
        server = try ServerProcess(arguments: ["--default-strategy", strategy])
        jobs = JobPIDs(in: server.directory)
        thread = try LoopThread()
        control = try await ControlClient.connect(server.address, loop: thread.loop)
        let control = self.control
        try await eventually("the strategy \(strategy)", timeout: 30) {
            try await control.scheduler().strategies.contains(strategy)
        }
    }

    /// A new control connection (after a server restart).
    func reconnectControl() async throws {
        await control.client.close()
        control = try await ControlClient.connect(server.address, loop: thread.loop)
    }

    /// Starts an agent and waits until its node is ready.
    @discardableResult
    func agent(
        _ id: String, binary: AgentUnderTest.Binary = .orchion, arguments: [String] = [],
        environment: [String: String] = [:]
    ) async throws -> AgentUnderTest {
        let agent = try AgentUnderTest(
            id, server: server, binary: binary, arguments: arguments, environment: environment)
        agents.append(agent)
        try await waitReady(id)
        return agent
    }

    func waitReady(_ id: String) async throws {
        let control = self.control
        try await eventually("node \(id) ready", timeout: 30) {
            (try? await control.node(id))?.state == .ready
        }
    }

    /// Waits until `job` satisfies `condition`; returns it.
    @discardableResult
    func waitJob(
        _ id: String, _ what: String, timeout: Double = 30, _ condition: @escaping (Orchion_V1_Job) -> Bool
    ) async throws -> Orchion_V1_Job {
        let control = self.control
        var last: Orchion_V1_Job?
        do {
            try await eventually("job \(id): \(what)", timeout: timeout) {
                last = try await control.job(id)
                return last.map(condition) ?? false
            }
        } catch {
            throw HarnessError("\(error); last seen: \(last.map { "\($0)" } ?? "none")\n\(logs)")
        }
        return try await control.job(id)
    }

    /// Everything a job's latest attempt wrote to stdout, as the server has it.
    func stdout(_ id: String) async throws -> String {
        var data = Data()
        for try await chunk in control.logs(id, follow: false) where chunk.stream == .stdout {
            data.append(chunk.data)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The logs of every process, for a failure message.
    var logs: String {
        (["server:\n" + server.output] + agents.map { "agent \($0.nodeID):\n" + $0.output }).joined(separator: "\n")
    }

    func close() async {
        for agent in agents { agent.kill() }
        jobs.killAll()
        await control.client.close()
        try? thread.shutdown()
        server.remove()
    }
}

/// A job spec running `sh -c command`.
func shellJob(_ command: String, maxAttempts: UInt32 = 1, cpu: UInt64 = 1000) -> Orchion_V1_JobSpec {
    .with {
        $0.command = command
        $0.resources = .with {
            $0.cpuMillis = cpu
            $0.memoryBytes = 1 << 20
        }
        if maxAttempts > 1 { $0.retry = .with { $0.maxAttempts = maxAttempts } }
    }
}
