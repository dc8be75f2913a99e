import ClusterTestSupport
import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport

/// One test's cluster: a real server, a loop for the clients, the control
/// client, and the agents the test adds. `close` stops and removes all.
final class Cluster: @unchecked Sendable {
    let server: ServerProcess
    let thread: LoopThread
    let control: ControlClient
    private(set) var agents: [TestAgent] = []

    init(serverArguments: [String] = [], builtins: Bool = true, directory: URL? = nil) async throws {
        server = try ServerProcess(directory: directory, builtins: builtins, arguments: serverArguments)
        thread = try LoopThread()
        control = try await ControlClient.connect(server.address, loop: thread.loop)
        if builtins {
            let control = self.control
            try await eventually("the built-in strategies") {
                try await control.scheduler().strategies.contains("spread")
            }
        }
    }

    /// Connects and registers a test agent; throws the server's error when
    /// the registration is refused.
    @discardableResult
    func agent(
        _ id: String, cpuMillis: UInt64 = 4000, memoryBytes: UInt64 = 8 << 30, arch: String = "x86_64",
        labels: [String: String] = [:], gpus: [Orchion_V1_GPU] = [], running: [Orchion_V1_RunningJob] = [],
        autoStart: Bool = true, token: String = ServerProcess.joinToken
    ) async throws -> TestAgent {
        let agent = try await TestAgent(
            id, server: server.address, loop: thread.loop, token: token, cpuMillis: cpuMillis,
            memoryBytes: memoryBytes, arch: arch, labels: labels, gpus: gpus, running: running, autoStart: autoStart)
        agents.append(agent)
        try await eventually("node \(id) registered") { agent.received.registered != nil || agent.received.streamEnded }
        if agent.received.registered == nil {
            throw agent.received.ended ?? HarnessError("node \(id): the stream ended before Registered")
        }
        return agent
    }

    /// Waits until job `id` is in `state`; returns it.
    @discardableResult
    func wait(_ id: String, _ state: Orchion_V1_JobState, timeout: Double = 10) async throws -> Orchion_V1_Job {
        var job = Orchion_V1_Job()
        try await eventually("job \(id) \(state)", timeout: timeout) {
            job = try await control.job(id)
            return job.state == state
        }
        return job
    }

    /// GET `path` over REST with the client token (curl); the status and body.
    func restGet(_ path: String) throws -> (status: Int, body: String) {
        let result = try runCommand(
            [
                "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "-H",
                "Authorization: Bearer \(ServerProcess.clientToken)", "http://127.0.0.1:\(server.port)\(path)",
            ], timeout: 20)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// POST `body` (JSON, from a file: it may be megabytes) to `path` over
    /// REST with the client token (curl); the status and body.
    func restPost(_ path: String, json body: String) throws -> (status: Int, body: String) {
        let file = try Paths.temporaryDirectory("orchion-rest").appendingPathComponent("body.json")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        try Data(body.utf8).write(to: file)
        let result = try runCommand(
            [
                "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "-H",
                "Authorization: Bearer \(ServerProcess.clientToken)", "-H", "Content-Type: application/json",
                "--data-binary", "@\(file.path)", "http://127.0.0.1:\(server.port)\(path)",
            ], timeout: 20)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    func close() async {
        for agent in agents { await agent.disconnect() }
        await control.client.close()
        server.remove()
        try? thread.shutdown()
    }
}
