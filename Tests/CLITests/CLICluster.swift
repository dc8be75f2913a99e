import ClusterTestSupport
import Foundation
import TestSupport

/// A real `orchion server` and two real `orchion agent run` processes, and
/// the `orchion` client run against them as a user would: the server's
/// address from `ORCHION_SERVER`, the token found by the client itself in
/// the server's state directory (`ORCHION_STATE_DIR`). `close` stops all.
final class CLICluster: @unchecked Sendable {
    let server: ServerProcess
    private(set) var agents: [Process] = []
    private let agentLogs = LogBuffer()

    init() throws {
        server = try ServerProcess()
        for node in ["cli-a", "cli-b"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Paths.orchion)
            process.arguments = [
                "agent", "run", "--server", "127.0.0.1:\(server.port)", "--node-id", node,
                "--join-token-file", server.directory.appendingPathComponent("join.token").path,
                "--state-dir", server.directory.appendingPathComponent("agent-\(node)").path, "--label", "node=\(node)",
            ]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            let log = agentLogs
            output.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
            }
            try process.run()
            agents.append(process)
        }
    }

    /// The environment a user's shell would have: no ORCHION_* but these.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        environment["ORCHION_SERVER"] = "127.0.0.1:\(server.port)"
        environment["ORCHION_STATE_DIR"] = server.directory.path
        environment.removeValue(forKey: "NO_COLOR")
        return environment
    }

    /// Runs `orchion ARGUMENTS` with pipes (not a terminal).
    func orchion(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
        try runCommand(
            [Paths.orchion] + arguments, environment: environment.merging(extra) { $1 }, timeout: 60)
    }

    /// Runs `orchion ARGUMENTS` on a pseudo-terminal (python3's `pty`):
    /// stdout and stderr both arrive in `stdout`, as a terminal shows them.
    func orchionOnTerminal(_ arguments: [String], environment extra: [String: String] = [:]) throws
        -> CommandResult
    {
        let script = """
            import os, pty, sys
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], sys.argv[1:])
            out = b""
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            _, status = os.waitpid(pid, 0)
            sys.stdout.buffer.write(out)
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        return try runCommand(
            ["python3", "-c", script, Paths.orchion] + arguments, environment: environment.merging(extra) { $1 },
            timeout: 60)
    }

    /// Waits (polling `orchion node list -o json`, bounded) for both agents.
    func waitForNodes() async throws {
        try await eventually("both agents registered", timeout: 30) {
            let listed = try orchion(["node", "list", "-o", "json"])
            return listed.stdout.contains("cli-a") && listed.stdout.contains("cli-b")
                && listed.stdout.components(separatedBy: "NODE_STATE_READY").count == 3
        }
    }

    /// The job's state as `orchion job show -o json` gives it.
    func state(_ id: String) throws -> String {
        let shown = try orchion(["job", "show", id, "-o", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        return object?["state"] as? String ?? ""
    }

    var agentOutput: String { agentLogs.text }

    /// Stops the agents (SIGTERM, then SIGKILL after 10 s) and the server.
    func close() {
        for agent in agents where agent.isRunning { kill(agent.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while agents.contains(where: \.isRunning), Date() < deadline { usleep(10_000) }
        for agent in agents where agent.isRunning { kill(agent.processIdentifier, SIGKILL) }
        server.remove()
    }
}
