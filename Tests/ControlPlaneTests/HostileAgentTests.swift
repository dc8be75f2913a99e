import Foundation
import OrchionProto
import OrchionWire
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
        let agent = try await cluster.agent("wide", gpus: gpus)
        #expect(agent.received.registered == nil)
        let error = try #require(agent.received.ended as? RPCError)
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("gpus"), "\(error.message)")
        #expect(try await cluster.control.nodes().isEmpty)
        await cluster.close()
    }

    @Test func aRegistrationWithTenThousandLabelsIsRefused() async throws {
        let cluster = try await Cluster()
        let labels = Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("key-\($0)", "value") })
        let agent = try await cluster.agent("labelled", labels: labels)
        #expect(agent.received.registered == nil)
        let error = try #require(agent.received.ended as? RPCError)
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
}
