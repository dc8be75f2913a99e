import ClusterTestSupport
import Foundation
import TestSupport

/// A real `orchion up` (a server and its local agent) and a second real
/// `orchion agent run`, and the `orchion` client run against them as a user
/// would: the address from `ORCHION_SERVER` (`up` listens on a free port
/// here), the token found by the client itself where `up` saved it (the
/// default state directory under this test's `HOME`). `close` stops all.
final class CLICluster: @unchecked Sendable {
    let directory: URL
    let home: URL
    let up = Process()
    let agent = Process()
    private let upOutput = LogBuffer()
    private let agentLogs = LogBuffer()
    private(set) var port: UInt16 = 0

    /// Where `orchion up` keeps its state with this `HOME`.
    var state: URL { home.appendingPathComponent(".local/share/orchion") }

    init() throws {
        directory = try Paths.temporaryDirectory("orchion-cli")
        home = directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        up.executableURL = URL(fileURLWithPath: Paths.orchion)
        up.arguments = ["up", "--listen", "127.0.0.1:0", "--label", "node=up"]
        up.environment = baseEnvironment
        try Self.start(up, into: upOutput)
        let deadline = Date().addingTimeInterval(30)
        while port == 0 {
            if let line = upOutput.text.split(separator: "\n").first(where: { $0.contains("API:") }),
                let url = line.split(separator: " ").first(where: { $0.hasPrefix("http://127.0.0.1:") }),
                let port = url.split(separator: ":").last.flatMap({ UInt16($0) })
            {
                self.port = port
                break
            }
            guard up.isRunning, Date() < deadline else {
                close()
                throw HarnessError("no API line from orchion up:\n\(upOutput.text)")
            }
            usleep(20_000)
        }
        agent.executableURL = URL(fileURLWithPath: Paths.orchion)
        agent.arguments = [
            "agent", "run", "--server", "127.0.0.1:\(port)", "--node-id", "cli-b",
            "--join-token-file", state.appendingPathComponent("join.token").path,
            "--state-dir", directory.appendingPathComponent("agent-b").path, "--label", "node=cli-b",
            "--work-dir", directory.appendingPathComponent("work-b").path,
        ]
        agent.environment = baseEnvironment
        try Self.start(agent, into: agentLogs)
    }

    /// This test's environment without ORCHION_*, XDG_* or NO_COLOR, `HOME` its own.
    private var baseEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("ORCHION_") && !$0.key.hasPrefix("XDG_") && $0.key != "STATE_DIRECTORY"
                && $0.key != "NO_COLOR"
        }
        environment["HOME"] = home.path
        // The local agent's jobs' directories, inside the test's (cli-b names its own).
        environment["ORCHION_AGENT_WORK_DIR"] = directory.appendingPathComponent("work-up").path
        return environment
    }

    private static func start(_ process: Process, into log: LogBuffer) throws {
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
    }

    /// The environment a user's shell would have: no ORCHION_* but these.
    var environment: [String: String] {
        var environment = baseEnvironment
        environment["ORCHION_SERVER"] = "127.0.0.1:\(port)"
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

    /// Waits (polling `orchion node list -o json`, bounded) for both nodes
    /// ready: `up`'s local agent and cli-b.
    func waitForNodes() async throws {
        do {
            try await eventually("both agents registered", timeout: 30) {
                let listed = try orchion(["node", "list", "-o", "json"])
                return listed.stdout.contains("cli-b")
                    && listed.stdout.components(separatedBy: "NODE_STATE_READY").count == 3
            }
        } catch {
            throw HarnessError("\(error)\norchion up:\n\(upOutput.text)\nagent:\n\(agentLogs.text)")
        }
    }

    /// The job's state as `orchion job show -o json` gives it.
    func state(_ id: String) throws -> String {
        let shown = try orchion(["job", "show", id, "-o", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        return object?["state"] as? String ?? ""
    }

    /// SIGTERM to `orchion up` (it stops its agent, then the server) and
    /// to the second agent; SIGKILL after 15 s; removes the directory.
    func close() {
        for process in [agent, up] where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(15)
        while agent.isRunning || up.isRunning, Date() < deadline { usleep(10_000) }
        for process in [agent, up] where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }
}
