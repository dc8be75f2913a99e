import ClusterTestSupport
import Foundation
import TestSupport
import Testing

/// The dashboard of a real `orchion up` (its server and supervised local
/// agent) with a second real agent joined, opened at the address `orchion
/// up` prints and signed into with the token it created.
@Suite(.serialized) struct UpBrowserTests {
    @Test func theDashboardOrchionUpPrintsShowsItsNodeAndAJoinedOneAndRunsAJob() async throws {
        let directory = try Paths.temporaryDirectory("orchion-up-dashboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        let up = try DashboardUp(home: directory.appendingPathComponent("home"))
        defer { up.stop() }
        let url = try up.dashboardURL()
        #expect(url.hasPrefix("http://127.0.0.1:") && url.hasSuffix("/"), "\(url)")
        let state = directory.appendingPathComponent("home/.local/share/orchion")
        let token = try up.clientToken(in: state)
        let address = String(url.dropFirst("http://".count).dropLast())
        let second = try DashboardAgent(
            "second-node", address: address, joinTokenFile: state.appendingPathComponent("join.token"),
            stateDirectory: directory.appendingPathComponent("second-agent"))
        defer { second.kill() }
        try BrowserScenario(name: "up-cluster", url: url, token: token, timeout: 90).run()
    }
}

/// A real `orchion up` with its own HOME (so its state and tokens are the
/// test's), on a free port; stopped with SIGINT (it stops its agent, then
/// its server), SIGKILL for both after a bounded wait.
final class DashboardUp: @unchecked Sendable {
    private let process = Process()
    private let out = LogBuffer()

    init(home: URL) throws {
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: Paths.orchion)
        process.arguments = ["up", "--listen", "127.0.0.1:0"]
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("ORCHION_") && !$0.key.hasPrefix("XDG_") && $0.key != "STATE_DIRECTORY"
        }
        environment["HOME"] = home.path
        // The local agent's jobs' directories, inside the test's.
        environment["ORCHION_AGENT_WORK_DIR"] = home.appendingPathComponent("jobs").path
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let out = self.out
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { out.append(data) }
        }
        try process.run()
    }

    deinit { stop() }

    /// The `dashboard:` address from the banner.
    func dashboardURL() throws -> String {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let line = out.text.split(separator: "\n").first(where: { $0.contains("dashboard:") }),
                let url = line.split(separator: " ").first(where: { $0.hasPrefix("http://") })
            {
                return String(url)
            }
            guard process.isRunning else { throw HarnessError("orchion up exited:\n\(out.text)") }
            usleep(20_000)
        }
        throw HarnessError("no dashboard line from orchion up within 30 s:\n\(out.text)")
    }

    /// The client token `orchion up` created in `state`: its secret is in
    /// this machine's credential file (the tokens file keeps only hashes).
    func clientToken(in state: URL) throws -> String {
        let text = try String(contentsOf: state.appendingPathComponent("client.credential"), encoding: .utf8)
        guard let token = text.split(separator: "\n").first(where: { !$0.hasPrefix("#") && !$0.isEmpty }) else {
            throw HarnessError("no token in client.credential")
        }
        return String(token)
    }

    /// Its children (the local agent), from /proc.
    private func children() -> [Int32] {
        let parent = process.processIdentifier
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.range(of: ") ", options: .backwards)
            else { return nil }
            let fields = stat[close.upperBound...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent ? pid : nil
        }
    }

    func stop() {
        guard process.isRunning else { return }
        let agents = children()
        kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for agent in agents { kill(agent, SIGKILL) }
        let reaped = Date().addingTimeInterval(10)
        while process.isRunning, Date() < reaped { usleep(10_000) }
    }
}
