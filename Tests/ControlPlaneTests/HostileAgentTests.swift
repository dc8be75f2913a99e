import ClusterTestSupport
import Foundation
import OrchionProto
import OrchionWire
import SwiftProtobuf
import Testing

/// Agents holding the join token that send what no real agent would: the
/// server refuses the registration with a clear error and keeps answering.
@Suite(.serialized) struct HostileAgentTests {
    /// Found by attack: 20,000 GPUs stalled the loop for seconds per
    /// registration and per GetNode (quadratic work), 100,000 for minutes.
    @Test func aRegistrationWithTwentyThousandGPUsIsRefusedAndTheServerKeepsAnswering() async throws {
        let cluster = try await Cluster()
        let gpus = (0..<20_000).map { index in
            Orchion_V1_GPU.with {
                $0.vendor = "nvidia"
                $0.model = "T4"
                $0.memoryBytes = 16 << 30
                $0.index = UInt32(index)
            }
        }
        let error = try await #require(throws: RPCError.self) { try await cluster.agent("wide", gpus: gpus) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("gpus"), "\(error.message)")
        #expect(try await cluster.control.nodes().isEmpty)
        await cluster.close()
    }

    /// Found by attack: a second agent with a connected node's id (a
    /// cloned machine id) took the node over: the first's running job was
    /// redelivered to it, the first was told to stop it, and the two
    /// superseded each other forever.
    @Test func aSecondAgentWithALiveNodesIDIsRefusedAndASilentStreamIsTakenOver() async throws {
        let cluster = try await Cluster()
        let first = try await cluster.agent("twin")
        let job = try await cluster.control.submit(spec("sleep 1000"))
        try await cluster.wait(job.id, .running)
        // A cloned machine: its disk, and so the node's credential, copied.
        let credential = try #require(first.received.registered?.nodeCredential)
        let twin = try await TestAgent(
            "twin", server: cluster.server.address, loop: cluster.thread.loop, token: credential)
        try await eventually("the twin answered") { twin.received.registered != nil || twin.received.streamEnded }
        #expect(twin.received.registered == nil)
        #expect((twin.received.ended as? RPCError)?.code == .alreadyExists)
        #expect(twin.received.assignments.isEmpty)
        #expect(!first.received.streamEnded && first.received.cancels.isEmpty)
        #expect(try await cluster.control.job(job.id).state == .running)
        await twin.disconnect()
        // Its agent reconnecting: the old stream went silent, so it is taken over.
        first.silence()
        let running = Orchion_V1_RunningJob.with {
            $0.jobID = job.id
            $0.attempt = 1
            $0.pid = 4242
        }
        var back: TestAgent?
        try await eventually("registered again over the silent stream", timeout: 10) {
            let agent = try await TestAgent(
                "twin", server: cluster.server.address, loop: cluster.thread.loop, token: credential,
                running: [running])
            try await eventually("answered") { agent.received.registered != nil || agent.received.streamEnded }
            guard agent.received.registered != nil else {
                await agent.disconnect()
                return false
            }
            back = agent
            return true
        }
        #expect(first.received.streamEnded)
        #expect(try await cluster.control.job(job.id).state == .running)
        await back?.disconnect()
        await cluster.close()
    }

    /// Found by attack: a heartbeat's per-job usages were kept for any job
    /// id, other nodes' jobs included: 4,096 of them with 128-byte ids put
    /// about 700 KB into every node listing, so six such agents pushed
    /// ListNodes past a client's 4 MiB limit.
    @Test func aHeartbeatKeepsOnlyTheUsageOfTheNodesOwnRunningAttempts() async throws {
        let cluster = try await Cluster()
        let agent = try await TestAgent(
            "meter", server: cluster.server.address, loop: cluster.thread.loop, heartbeatEvery: nil)
        try await eventually("meter registered") { agent.received.registered != nil }
        let job = try await cluster.control.submit(spec("sleep 1000"))
        try await cluster.wait(job.id, .running)
        func usage(_ id: String, _ attempt: UInt32) -> Orchion_V1_JobUsage {
            .with {
                $0.jobID = id
                $0.attempt = attempt
                $0.memoryBytes = 1 << 20
                $0.source = "cgroup"
            }
        }
        let bogus = (0..<4094).map { usage("j-" + String(repeating: "x", count: 100) + "\($0)", 1) }
        try await agent.heartbeat(
            .with {
                $0.sampledAt = .init(date: Date())
                $0.jobs = [usage(job.id, 1), usage(job.id, 2)] + bogus
            })
        try await eventually("the heartbeat taken") {
            try await cluster.control.node("meter").telemetry.jobs.contains { $0.jobID == job.id }
        }
        let kept = try await cluster.control.node("meter").telemetry.jobs
        #expect(kept.map(\.jobID) == [job.id] && kept.map(\.attempt) == [1], "\(kept.count) usages kept")
        await agent.disconnect()
        await cluster.close()
    }

    @Test func aRegistrationWithTenThousandLabelsIsRefused() async throws {
        let cluster = try await Cluster()
        let labels = Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("key-\($0)", "value") })
        let error = try await #require(throws: RPCError.self) { try await cluster.agent("labelled", labels: labels) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("labels"), "\(error.message)")
        #expect(try await cluster.control.nodes().isEmpty)
        await cluster.close()
    }

    /// Found by attack: the hostname went unchecked into the server log, and
    /// the log only dropped "\n" characters, so "\r\n" (one Swift Character)
    /// started a forged line.
    @Test func aHostnameWithALineBreakOrOverLongIsRefusedAndNotLogged() async throws {
        let cluster = try await Cluster()
        for (node, hostname) in [
            ("crlf", "evil\r\n2026-01-01T00:00:00Z error FORGED"), ("cr", "evil\rFORGED"),
            ("long", String(repeating: "h", count: 300)),
        ] {
            let agent = try await TestAgent(
                node, server: cluster.server.address, loop: cluster.thread.loop, hostname: hostname,
                heartbeatEvery: nil)
            try await eventually("\(node) answered") { agent.received.registered != nil || agent.received.streamEnded }
            #expect(agent.received.registered == nil, "\(node)")
            #expect((agent.received.ended as? RPCError)?.code == .invalidArgument, "\(node)")
            await agent.disconnect()
        }
        #expect(!cluster.server.output.contains("FORGED"))
        #expect(try await cluster.control.nodes().isEmpty)
        await cluster.close()
    }

    /// Found by attack: 2.6 MB of capabilities (a 1 MB CPU model, 100,000
    /// executors, 50,000 accelerators) were kept and sent in every listing.
    @Test func aRegistrationWithCapabilitiesOverTheLimitIsRefused() async throws {
        let cluster = try await Cluster()
        let agent = try await TestAgent(
            "bloated", server: cluster.server.address, loop: cluster.thread.loop, heartbeatEvery: nil
        ) { register in
            register.capabilities.cpuModel = String(repeating: "M", count: 1 << 20)
            register.capabilities.executors = Array(repeating: "exec", count: 10_000)
        }
        try await eventually("bloated answered") { agent.received.registered != nil || agent.received.streamEnded }
        #expect(agent.received.registered == nil)
        let error = try #require(agent.received.ended as? RPCError)
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("capabilities"), "\(error.message)")
        #expect(try await cluster.control.nodes().isEmpty)
        await agent.disconnect()
        await cluster.close()
    }

    /// Found by attack: a heartbeat with 100,000 GPU samples (3 MB) was kept
    /// as the node's telemetry and in its history.
    @Test func aHeartbeatKeepsAtMostTheGPULimitOfGPUSamples() async throws {
        let cluster = try await Cluster()
        let agent = try await TestAgent(
            "chatty", server: cluster.server.address, loop: cluster.thread.loop, heartbeatEvery: nil)
        try await eventually("chatty registered") { agent.received.registered != nil }
        try await agent.heartbeat(
            .with {
                $0.cpuUtilization = 0.75
                $0.gpus = (0..<5000).map { index in
                    .with {
                        $0.index = UInt32(index)
                        $0.utilization = 0.5
                    }
                }
            })
        var node = Orchion_V1_Node()
        try await eventually("the heartbeat's telemetry recorded") {
            node = try await cluster.control.node("chatty")
            return node.telemetry.cpuUtilization == 0.75
        }
        #expect(node.telemetry.gpus.count == 1024)
        #expect(node.history.allSatisfy { $0.gpus.count <= 1024 })
        await agent.disconnect()
        await cluster.close()
    }

    /// Found by attack: reasons are kept on the job, its attempts, the event
    /// log and the store, at whatever size the agent sent.
    @Test func anAgentsFailureReasonIsCutToOneKiB() async throws {
        let cluster = try await Cluster()
        let agent = try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec())
        try await cluster.wait(job.id, .running)
        try await agent.report(job.id, attempt: 1, .failed, exitCode: 1, reason: String(repeating: "é", count: 1 << 15))
        let failed = try await cluster.wait(job.id, .failed)
        let reason = try #require(failed.attempts.last?.reason)
        #expect(reason.utf8.count <= 1024 && reason.hasPrefix("éé"), "\(reason.utf8.count) bytes")
        #expect(failed.reason.utf8.count <= 1024 + 64, "\(failed.reason.utf8.count) bytes")
        await cluster.close()
    }

    /// Found by attack: when a second connection registers the same node,
    /// the first stream was left open and silent: its agent kept running
    /// the node's jobs and heartbeating into the void, never told that the
    /// node's assignments now go elsewhere. (A stream still heartbeating is
    /// not superseded: see the test above.)
    @Test func aStreamSupersededByANewRegistrationOfItsNodeIsEnded() async throws {
        let cluster = try await Cluster()
        let first = try await cluster.agent("n1")
        first.silence()
        let credential = try #require(first.received.registered?.nodeCredential)
        var second: TestAgent?
        try await eventually("n1 registered again", timeout: 5) {
            second = try? await cluster.agent("n1", token: credential)
            return second != nil
        }
        #expect(second?.received.registered != nil)
        try await eventually("the first stream ended", timeout: 5) { first.received.streamEnded }
        let error = try #require(first.received.ended as? RPCError)
        #expect(error.code == .aborted, "\(error)")
        #expect(error.message.contains("n1"), "\(error.message)")
        #expect(try await cluster.control.node("n1").state == .ready)
        await cluster.close()
    }

    /// Found by attack: one heartbeat whose sampled_at is not a valid
    /// timestamp (nanos -5) made GET /v1/nodes and GET /v1/nodes/<id>
    /// answer 500 for every client.
    @Test func aHeartbeatWithAnInvalidSampleTimeLeavesTheRESTNodeListingReadable() async throws {
        let cluster = try await Cluster()
        let agent = try await TestAgent(
            "skewed", server: cluster.server.address, loop: cluster.thread.loop, heartbeatEvery: nil)
        try await eventually("skewed registered") { agent.received.registered != nil }
        for sampledAt in [
            Google_Protobuf_Timestamp(seconds: 1, nanos: -5), Google_Protobuf_Timestamp(seconds: 1 << 62),
        ] {
            try await agent.heartbeat(
                .with {
                    $0.cpuUtilization = Double(sampledAt.seconds % 7) / 10
                    $0.sampledAt = sampledAt
                })
            let expected = Double(sampledAt.seconds % 7) / 10
            try await eventually("the heartbeat recorded") {
                try await cluster.control.node("skewed").telemetry.cpuUtilization == expected
            }
            for path in ["/v1/nodes", "/v1/nodes/skewed"] {
                let reply = try cluster.restGet(path)
                #expect(reply.status == 200, "\(path) after sampled_at \(sampledAt): \(reply.body)")
            }
        }
        await agent.disconnect()
        await cluster.close()
    }
}
