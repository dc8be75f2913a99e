import ClusterTestSupport
import Foundation
import TestSupport

/// A real `orchion agent run` (or `orchion-agent`) connected to a test
/// server, with its own state directory, killed by PID when the test ends.
final class AgentUnderTest: @unchecked Sendable {
    /// The program and the arguments before the agent's flags.
    enum Binary {
        /// `orchion agent run`, the all-in-one binary.
        case orchion
        /// `orchion-agent`, the agent's own binary (exec linked in).
        case orchionAgent

        var command: (String, [String]) {
            switch self {
            case .orchion: (Paths.orchion, ["agent", "run"])
            case .orchionAgent: (Paths.build.appendingPathComponent("orchion-agent").path, [])
            }
        }
    }

    let nodeID: String
    let binary: Binary
    let stateDirectory: URL
    /// Where its jobs get their working directories (`--work-dir`), inside
    /// the test's directory so nothing outlives the test.
    let workDirectory: URL
    private let server: ServerProcess
    private let extraArguments: [String]
    private let extraEnvironment: [String: String]
    private(set) var process = Process()
    private let log = LogBuffer()

    init(
        _ nodeID: String, server: ServerProcess, binary: Binary = .orchion, arguments: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        self.nodeID = nodeID
        self.binary = binary
        self.server = server
        extraArguments = arguments
        extraEnvironment = environment
        stateDirectory = server.directory.appendingPathComponent("agent-\(nodeID)")
        workDirectory = server.directory.appendingPathComponent("work-\(nodeID)")
        try launch()
    }

    deinit { kill() }

    /// Starts (again) with the same node id and state directory, with the
    /// server's join token file or `joinTokenFile`.
    func launch(joinTokenFile: URL? = nil) throws {
        let process = Process()
        let (program, subcommand) = binary.command
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments =
            subcommand + [
                "--server", "127.0.0.1:\(server.port)", "--node-id", nodeID,
                "--join-token-file", (joinTokenFile ?? server.directory.appendingPathComponent("join.token")).path,
                "--state-dir", stateDirectory.path, "--work-dir", workDirectory.path, "--label", "agent=\(nodeID)",
            ] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
            .merging(extraEnvironment) { $1 }
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        let log = self.log
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
        self.process = process
    }

    var output: String { log.text }

    /// Waits until the log has `count` lines containing `text`.
    func waitForLog(_ text: String, count: Int = 1, timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.text.components(separatedBy: "\n").filter({ $0.contains(text) }).count >= count { return }
            guard process.isRunning else { throw HarnessError("agent \(nodeID) exited: \(log.text)") }
            usleep(20_000)
        }
        throw HarnessError("no '\(text)' in agent \(nodeID)'s log within \(timeout)s:\n\(log.text)")
    }

    func signal(_ signal: Int32) { Foundation.kill(process.processIdentifier, signal) }

    /// Waits (bounded) for the process to exit; whether it did.
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }

    /// SIGKILL, and waits (bounded, polling: `waitUntilExit` can hang in
    /// an async test) for the exit.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        _ = waitForExit(timeout: 10)
    }
}

/// Process ids the test's jobs wrote to a file (`echo $$ >> file`): every
/// one is killed with its process group at the end, so a job outliving a
/// killed agent does not outlive the test.
struct JobPIDs {
    let file: URL

    /// Makes the file writable by anyone: the agent (root in CI) runs the
    /// jobs as its unprivileged default user, who appends to it.
    init(in directory: URL) {
        file = directory.appendingPathComponent("job-pids")
        FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o666])
    }

    /// A shell prefix recording the job's pid.
    var record: String { "echo $$ >> '\(file.path)'; " }

    var pids: [Int32] {
        ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.flatMap { Int32($0) }
        }
    }

    func killAll() {
        for pid in pids where pid > 1 {
            Foundation.kill(-pid, SIGKILL)
            Foundation.kill(pid, SIGKILL)
        }
    }
}
