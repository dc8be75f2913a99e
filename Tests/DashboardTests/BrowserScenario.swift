import ClusterTestSupport
import Foundation
import TestSupport

/// Runs one scenario of `browser/dashboard.py` (Selenium, Debian's
/// chromium and chromium-driver, headless) against a real server, and
/// answers the `@@ ACTION` lines it prints with `handle`. The driver puts
/// itself in a process group of its own (its pid), so the whole group —
/// chromedriver and chromium included — is killed when it ends or overruns.
struct BrowserScenario {
    /// Where screenshots go: ORCHION_ARTIFACTS_DIR, else `.build/artifacts/dashboard`
    /// (git-ignored).
    static var artifacts: URL {
        if let dir = ProcessInfo.processInfo.environment["ORCHION_ARTIFACTS_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        return Paths.root.appendingPathComponent(".build/artifacts/dashboard")
    }

    let name: String
    /// The server's base URL and a client token for it.
    let url: String
    let token: String
    var timeout: Double = 60
    var width = 1400

    init(name: String, server: ServerProcess, timeout: Double = 60) {
        self.init(
            name: name, url: "http://127.0.0.1:\(server.port)", token: ServerProcess.clientToken, timeout: timeout)
    }

    init(name: String, url: String, token: String, timeout: Double = 60) {
        self.name = name
        self.url = url
        self.token = token
        self.timeout = timeout
    }

    /// Runs it; throws with the driver's output when it fails.
    func run(
        _ handle: (_ action: String, _ arguments: [String]) throws -> Void = { action, _ in
            throw HarnessError("unexpected action \(action)")
        }
    ) throws {
        let python = Paths.root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError("no \(python): run .ci/setup (it installs selenium there)")
        }
        let script = Paths.root.appendingPathComponent("Tests/DashboardTests/browser/dashboard.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            script, name, "--url", url, "--token", token,
            "--artifacts", Self.artifacts.path, "--width", "\(width)",
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        let log = LogBuffer()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
        let group = process.processIdentifier
        defer {
            // The group outlives the driver when it dies first (chromium's helpers).
            kill(-group, SIGKILL)
            kill(group, SIGKILL)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(10_000) }
        }
        var handled = 0
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard Date() < deadline else {
                kill(-group, SIGKILL)
                throw HarnessError("browser scenario \(name) ran past \(timeout)s:\n\(log.text)")
            }
            let actions = log.text.split(separator: "\n").filter { $0.hasPrefix("@@ ") }
            while handled < actions.count {
                let words = actions[handled].dropFirst(3).split(separator: " ").map(String.init)
                handled += 1
                var answer = "ok\n"
                do {
                    try handle(words.first ?? "", Array(words.dropFirst()))
                } catch {
                    answer = "error \(error)\n".replacingOccurrences(of: "\n", with: " ") + "\n"
                }
                input.fileHandleForWriting.write(Data(answer.utf8))
            }
            usleep(20_000)
        }
        // The rest of the output, then the verdict.
        let drained = Date().addingTimeInterval(5)
        while !log.text.contains("PASS \(name)"), process.terminationStatus == 0, Date() < drained { usleep(10_000) }
        guard process.terminationStatus == 0, log.text.contains("PASS \(name)") else {
            throw HarnessError(
                "browser scenario \(name) failed (exit \(process.terminationStatus)); screenshot in "
                    + "\(Self.artifacts.path):\n\(log.text)")
        }
    }
}

/// A real `orchion agent run` for the browser tests, killed by PID when
/// the test ends (as AgentDaemonTests' agents are).
final class DashboardAgent: @unchecked Sendable {
    let nodeID: String
    private let process = Process()
    private let log = LogBuffer()

    convenience init(_ nodeID: String, server: ServerProcess) throws {
        try self.init(
            nodeID, address: "127.0.0.1:\(server.port)",
            joinTokenFile: server.directory.appendingPathComponent("join.token"),
            stateDirectory: server.directory.appendingPathComponent("agent-\(nodeID)"))
    }

    init(_ nodeID: String, address: String, joinTokenFile: URL, stateDirectory: URL) throws {
        self.nodeID = nodeID
        process.executableURL = URL(fileURLWithPath: Paths.orchion)
        process.arguments = [
            "agent", "run", "--server", address, "--node-id", nodeID, "--join-token-file", joinTokenFile.path,
            "--state-dir", stateDirectory.path, "--work-dir", stateDirectory.path + "-work",
            "--label", "agent=\(nodeID)", "--stop-jobs-on-exit",
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let log = self.log
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
    }

    deinit { kill() }

    var output: String { log.text }

    /// SIGKILL, and a bounded wait for the exit.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
    }
}
