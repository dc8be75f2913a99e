import ClusterTestSupport
import Foundation
import OrchionLoop
import OrchionProto
import TestSupport
import Testing

/// The real `orchion up`: a server and its supervised local agent, driven
/// as a user would (signals, its state directory, its printed URL).
@Suite(.serialized) struct UpCommandTests {
    @Test func upComesUpWithAReadyNodeRunsAJobAndSIGINTStopsTheAgentThenTheServer() async throws {
        let directory = try Paths.temporaryDirectory("orchion-up")
        defer { try? FileManager.default.removeItem(at: directory) }
        let home = directory.appendingPathComponent("home")
        let up = try UpProcess(arguments: [], home: home)
        let thread = try LoopThread()
        do {
            let state = home.appendingPathComponent(".local/share/orchion")
            #expect(up.stdout.contains("state:          \(state.path)"))
            #expect(up.stdout.contains("Other machines cannot join"))
            // CI runs as root: the banner says jobs do not.
            if geteuid() == 0 {
                #expect(up.stdout.contains("jobs run:       as user nobody, not root; root refused"), "\(up.stdout)")
            }
            for file in ["join.token", "client.tokens", "client.credential"] {
                let path = state.appendingPathComponent(file).path
                let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file) mode")
            }
            let control = try await ControlClient.connect(
                up.address, loop: thread.loop, token: try UpProcess.clientToken(in: state))
            let node = try await up.readyNode(control)
            let job = try await control.submit(
                .with {
                    $0.command = "echo up-says-hello"
                    $0.resources = .with {
                        $0.cpuMillis = 100
                        $0.memoryBytes = 1 << 20
                    }
                }
            ).id
            var last = Orchion_V1_Job()
            try await eventually("job \(job) succeeded", timeout: 30) {
                last = try await control.job(job)
                return last.state == .succeeded
            }
            #expect(last.attempts.first?.nodeID == node)
            var output = Data()
            for try await chunk in control.logs(job, follow: false) where chunk.stream == .stdout {
                output.append(chunk.data)
            }
            #expect(String(decoding: output, as: UTF8.self) == "up-says-hello\n")
            await control.client.close()

            let agent = try #require(up.agentPID(), "the agent's pid")
            up.signal(SIGINT)
            #expect(up.waitForExit(timeout: 45), "orchion up exits after SIGINT")
            #expect(up.process.terminationStatus == 0)
            #expect(kill(agent, 0) != 0, "the agent \(agent) is gone")
            let log = up.stderr
            let agentStopped = try #require(log.range(of: "the agent stopped"), "the agent's stop logged:\n\(log)")
            let serverStopping = try #require(log.range(of: "stopping (signal 2)"), "the server's stop logged")
            #expect(agentStopped.lowerBound < serverStopping.lowerBound, "the agent stops before the server")
        } catch {
            up.kill()
            try? thread.shutdown()
            throw HarnessError("\(error)\nstdout:\n\(up.stdout)\nstderr:\n\(up.stderr)")
        }
        up.kill()
        try thread.shutdown()
    }

    @Test func upDoesNotRestartTheAgentOfItsRemovedNodeAndTheServerRunsOn() async throws {
        let directory = try Paths.temporaryDirectory("orchion-up")
        defer { try? FileManager.default.removeItem(at: directory) }
        let home = directory.appendingPathComponent("home")
        let up = try UpProcess(arguments: [], home: home)
        let thread = try LoopThread()
        do {
            let state = home.appendingPathComponent(".local/share/orchion")
            let control = try await ControlClient.connect(
                up.address, loop: thread.loop, token: try UpProcess.clientToken(in: state))
            let node = try await up.readyNode(control)
            let agent = try #require(up.agentPID(), "the agent's pid")
            let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(agent)/cmdline"))) ?? Data()
            #expect(command.range(of: Data("agent\u{0}run".utf8)) != nil, "\(agent) is the agent")
            #expect(try await control.removeNode(node).disconnected)
            try await eventually("orchion up giving up on its removed node's agent", timeout: 30) {
                up.stderr.contains("the local node was removed from the cluster")
            }
            #expect(!up.stderr.contains("restarting it in"), "\(up.stderr)")
            #expect(up.process.isRunning && kill(agent, 0) != 0, "orchion up runs on, its agent \(agent) gone")
            #expect(try await control.nodes().isEmpty, "the server answers, without the removed node")
            await control.client.close()
        } catch {
            up.kill()
            try? thread.shutdown()
            throw HarnessError("\(error)\nstdout:\n\(up.stdout)\nstderr:\n\(up.stderr)")
        }
        up.kill()
        try thread.shutdown()
    }

    @Test func aSecondUpWithTheSameStateDirectoryReusesItsTokensAndNodeAndSIGTERMStopsIt() async throws {
        let directory = try Paths.temporaryDirectory("orchion-up")
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("state")
        let home = directory.appendingPathComponent("home")
        let thread = try LoopThread()
        var nodes: [String] = []
        var tokens: [String] = []
        for run in 1...2 {
            let up = try UpProcess(arguments: ["--state-dir", state.path], home: home)
            do {
                let files = try ["join.token", "client.tokens"].map {
                    try String(contentsOf: state.appendingPathComponent($0), encoding: .utf8)
                }
                tokens.append(files.joined(separator: "\n"))
                let control = try await ControlClient.connect(
                    up.address, loop: thread.loop, token: try UpProcess.clientToken(in: state))
                nodes.append(try await up.readyNode(control))
                #expect(try await control.nodes().count == 1, "run \(run): one node")
                await control.client.close()
                let agent = try #require(up.agentPID(), "the agent's pid")
                up.signal(SIGTERM)
                #expect(up.waitForExit(timeout: 45), "run \(run): orchion up exits after SIGTERM")
                #expect(up.process.terminationStatus == 0)
                #expect(kill(agent, 0) != 0, "run \(run): the agent \(agent) is gone")
            } catch {
                up.kill()
                try? thread.shutdown()
                throw HarnessError("run \(run): \(error)\nstdout:\n\(up.stdout)\nstderr:\n\(up.stderr)")
            }
            up.kill()
        }
        try thread.shutdown()
        #expect(tokens.count == 2 && tokens[0] == tokens[1], "the same token files")
        #expect(nodes.count == 2 && nodes[0] == nodes[1], "the same node id")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent(".local/share/orchion").path))
    }
}

/// A real `orchion up` on 127.0.0.1 (a free port) with `HOME` set to a test
/// directory and no `ORCHION_*` or XDG variables; killed by PID at the end
/// (its agent with it: the kernel sends the agent SIGTERM when `up` dies).
final class UpProcess: @unchecked Sendable {
    let process = Process()
    private let out = LogBuffer()
    private let err = LogBuffer()
    private(set) var port: UInt16 = 0

    init(arguments: [String], home: URL) throws {
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: Paths.orchion)
        process.arguments = ["up", "--listen", "127.0.0.1:0"] + arguments
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("ORCHION_") && !$0.key.hasPrefix("XDG_") && $0.key != "STATE_DIRECTORY"
        }
        environment["HOME"] = home.path
        // The local agent's jobs' directories, inside the test's.
        environment["ORCHION_AGENT_WORK_DIR"] = home.appendingPathComponent("jobs").path
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        for (pipe, buffer) in [(Pipe(), out), (Pipe(), err)] {
            if buffer === out { process.standardOutput = pipe } else { process.standardError = pipe }
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil } else { buffer.append(data) }
            }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let line = out.text.split(separator: "\n").first(where: { $0.contains("API:") }),
                let url = line.split(separator: " ").first(where: { $0.hasPrefix("http://127.0.0.1:") }),
                let port = url.split(separator: ":").last.flatMap({ UInt16($0) })
            {
                self.port = port
                return
            }
            guard process.isRunning else { throw HarnessError("orchion up exited: \(err.text)") }
            usleep(20_000)
        }
        kill()
        throw HarnessError("no API line from orchion up within 30 s:\n\(out.text)\n\(err.text)")
    }

    deinit { kill() }

    var address: SocketAddress { SocketAddress(host: "127.0.0.1", port: port) }
    var stdout: String { out.text }
    var stderr: String { err.text }

    /// The client token `orchion up` created in `state`: its secret is in
    /// this machine's credential file (the tokens file keeps only hashes).
    static func clientToken(in state: URL) throws -> String {
        let text = try String(contentsOf: state.appendingPathComponent("client.credential"), encoding: .utf8)
        guard let token = text.split(separator: "\n").first(where: { !$0.hasPrefix("#") && !$0.isEmpty }) else {
            throw HarnessError("no token in client.credential")
        }
        return String(token)
    }

    /// Waits until the cluster has one ready node (the local agent); its id.
    func readyNode(_ control: ControlClient) async throws -> String {
        var id = ""
        try await eventually("the local agent's node ready", timeout: 30) {
            let nodes = try await control.nodes()
            id = nodes.first?.id ?? ""
            return nodes.count == 1 && nodes.first?.state == .ready
        }
        return id
    }

    /// The process id of `orchion up`'s child (its agent), from /proc.
    func agentPID() -> Int32? {
        let parent = process.processIdentifier
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.range(of: ") ", options: .backwards)
            else { continue }
            let fields = stat[close.upperBound...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == parent { return pid }
        }
        return nil
    }

    func signal(_ signal: Int32) { Foundation.kill(process.processIdentifier, signal) }

    /// Waits (bounded, polling) for the exit; whether it came.
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }

    /// SIGKILL (the agent gets SIGTERM from the kernel), and its agent by
    /// PID too; waits for both, bounded.
    func kill() {
        guard process.isRunning else { return }
        let agent = agentPID()
        Foundation.kill(process.processIdentifier, SIGKILL)
        if let agent { Foundation.kill(agent, SIGKILL) }
        _ = waitForExit(timeout: 10)
    }
}
