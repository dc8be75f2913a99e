import ClusterTestSupport
import Foundation
import OrchionProto
import OrchionWire
import TestSupport
import Testing

@Suite(.serialized) struct RegistrationTests {
    @Test func anAgentWithTheJoinTokenRegistersAndHeartbeats() async throws {
        let cluster = try await Cluster()
        let agent = try await cluster.agent("n1", labels: ["zone": "attic"])
        let registered = try #require(agent.received.registered)
        #expect(registered.nodeID == "n1")
        #expect(registered.heartbeatInterval.seconds > 0 || registered.heartbeatInterval.nanos > 0)
        let first = try await cluster.control.node("n1")
        #expect(first.state == .ready)
        #expect(first.labels == ["zone": "attic"])
        #expect(first.capacity.cpuMillis == 4000)
        try await eventually("a heartbeat's telemetry recorded") {
            try await cluster.control.node("n1").telemetry.cpuUtilization == 0.25
        }
        await cluster.close()
    }

    @Test func aWrongTokenIsRefusedAndRegistersNothing() async throws {
        let cluster = try await Cluster()
        // A made-up token, and a client token (not a join token), are both refused.
        for token in ["not-the-join-token-at-all-000", ServerProcess.clientToken] {
            do {
                try await cluster.agent("intruder", token: token)
                Issue.record("an agent registered with a wrong token")
            } catch let error as RPCError {
                #expect(error.code == .unauthenticated || error.code == .permissionDenied, "\(error)")
            }
        }
        #expect(try await cluster.control.nodes().isEmpty)
        await cluster.close()
    }

    @Test func silentNodeTurnsSuspectThenDownAndItsJobIsRetriedElsewhere() async throws {
        let cluster = try await Cluster(serverArguments: [])
        let first = try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec(maxAttempts: 2))
        let placed = try await cluster.wait(job.id, .running)
        #expect(placed.attempts.last?.nodeID == "n1")
        first.silence()
        try await eventually("n1 suspect", timeout: 15) { try await cluster.control.node("n1").state == .suspect }
        try await cluster.agent("n2")
        try await eventually("n1 down", timeout: 30) { try await cluster.control.node("n1").state == .down }
        let retried = try await cluster.wait(job.id, .running, timeout: 15)
        #expect(retried.attempts.count == 2)
        #expect(retried.attempts[0].state == .lost)
        #expect(retried.attempts[0].nodeID == "n1")
        #expect(retried.attempts[1].nodeID == "n2")
        await cluster.close()
    }

    @Test func aWorldReadableTokenFileStopsTheServerWithTheFix() throws {
        let directory = try Paths.temporaryDirectory("orchion-server")
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = directory.appendingPathComponent("join.token")
        try Data("a-join-token-that-is-long-enough\n".utf8).write(to: token)
        chmod(token.path, 0o644)
        let result = try runCommand(
            [Paths.orchion, "server", "--listen", "127.0.0.1:0", "--state-dir", directory.path], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("chmod 600"), "\(result.stderr)")
        #expect(!result.stderr.contains("a-join-token-that-is-long-enough"))
    }

    @Test func aLowSoftLimitOnOpenFilesIsRaisedForTheAgents() throws {
        let directory = try Paths.temporaryDirectory("orchion-server")
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "ulimit -Sn 256 && exec \"$0\" server --listen 127.0.0.1:0 --state-dir \"$1\"", Paths.orchion,
            directory.path,
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        let log = LogBuffer()
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(10_000) }
        }
        let deadline = Date().addingTimeInterval(30)
        while !log.text.contains("listening on"), process.isRunning, Date() < deadline { usleep(20_000) }
        let hard = try runCommand(["sh", "-c", "ulimit -Hn"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The default 4,096 connections plus 256, unless the hard limit is lower.
        let expected = min(Int(hard) ?? Int.max, 4096 + 256)
        #expect(log.text.contains("open files: soft limit raised from 256 to \(expected)"), "\(log.text)")
        let limits = try String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        #expect(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first == "\(expected)")
    }

    @Test func agentsAreToldALongerIntervalWhenTheClusterGrowsPastTheHeartbeatRate() async throws {
        // At most 2 heartbeats/s: one node beats every 0.5 s, two every 1 s.
        let cluster = try await Cluster(serverArguments: ["--set", "heartbeat.max_heartbeats_per_second=2"])
        let first = try await cluster.agent("n1")
        let interval = try #require(first.received.registered?.heartbeatInterval)
        #expect(interval.seconds == 0 && interval.nanos >= 500_000_000)
        try await cluster.agent("n2")
        // An update of its own registration's interval may come first: wait for the longer one.
        try await eventually("n1 told an interval of at least 1 s") {
            first.received.configs.contains { $0.heartbeatInterval.seconds >= 1 }
        }
        await cluster.close()
    }
}
