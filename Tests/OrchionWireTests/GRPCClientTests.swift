import OrchionLoop
import OrchionProto
import OrchionWire
import Testing

/// The Swift gRPC client (what the agent will use) against the real server.
@Suite(.serialized) struct GRPCClientTests {
    private func client(_ fixture: WireFixture, token: String = WireFixture.clientToken) async throws -> GRPCClient {
        try await GRPCClient.connect(
            loop: fixture.thread.loop, to: SocketAddress(host: "127.0.0.1", port: fixture.port), token: token)
    }

    @Test func unaryCallsAndStatuses() async throws {
        let fixture = try await WireFixture()
        let client = try await client(fixture)
        let nodes: Orchion_V1_ListNodesResponse = try await client.unary(
            "/orchion.v1.ControlService/ListNodes", Orchion_V1_ListNodesRequest())
        #expect(nodes.nodes.map(\.id) == ["n1"])
        await #expect(throws: RPCError(.notFound, "node ghost not found")) {
            let _: Orchion_V1_Node = try await client.unary(
                "/orchion.v1.ControlService/GetNode", Orchion_V1_GetNodeRequest.with { $0.id = "ghost" })
        }
        await #expect(throws: RPCError(.unimplemented, "unknown method /orchion.v1.ControlService/Nope")) {
            let _: Orchion_V1_Node = try await client.unary(
                "/orchion.v1.ControlService/Nope", Orchion_V1_GetNodeRequest())
        }
        await client.close()
        try await fixture.stop()
    }

    @Test func streamsDeadlinesAndCancellation() async throws {
        let fixture = try await WireFixture()
        let client = try await client(fixture)
        let job: Orchion_V1_Job = try await client.unary(
            "/orchion.v1.ControlService/SubmitJob", Orchion_V1_SubmitJobRequest.with { $0.spec.argv = ["true"] })
        var logs: [String] = []
        for try await chunk in client.serverStreaming(
            "/orchion.v1.ControlService/FollowLogs", Orchion_V1_FollowLogsRequest.with { $0.jobID = job.id },
            as: Orchion_V1_LogChunk.self)
        {
            logs.append(String(decoding: chunk.data, as: UTF8.self))
        }
        #expect(logs == ["one\n", "two\n", "three\n"])

        var sequences: [UInt64] = []
        for try await event in client.serverStreaming(
            "/orchion.v1.ControlService/WatchEvents", Orchion_V1_WatchEventsRequest(), as: Orchion_V1_JobEvent.self)
        {
            sequences.append(event.sequence)
            if sequences.count == 3 { break }  // cancels the call
        }
        #expect(sequences == [1, 2, 3])
        await #expect(throws: RPCError.self) {
            for try await _ in client.serverStreaming(
                "/orchion.v1.ControlService/WatchEvents", Orchion_V1_WatchEventsRequest(), as: Orchion_V1_JobEvent.self,
                timeoutMillis: 200)
            {}
        }
        #expect(
            try await fixture.cancelledStreams(reaching: 2) == 2, "the break and the deadline both reach the handler")
        await client.close()
        try await fixture.stop()
    }

    @Test func theAgentStream() async throws {
        let fixture = try await WireFixture()
        let agent = try await client(fixture, token: WireFixture.joinToken)
        let (requests, replies) = agent.bidirectional(
            "/orchion.v1.AgentService/Connect", sending: Orchion_V1_AgentMessage.self,
            receiving: Orchion_V1_ServerMessage.self)
        try await requests.send(.with { $0.register = .with { $0.nodeID = "rpi-3" } })
        var iterator = replies.makeAsyncIterator()
        let registered = try await iterator.next()
        #expect(registered?.registered.nodeID == "rpi-3")
        for sequence in 1...3 {
            try await requests.send(.with { $0.heartbeat = .with { $0.sequence = UInt64(sequence) } })
            let reply = try await iterator.next()
            #expect(reply?.config.values["echo"] == String(sequence), "each heartbeat is answered in turn")
        }
        try await requests.finish()
        #expect(try await iterator.next() == nil, "the stream ends cleanly")
        await agent.close()
        try await fixture.stop()
    }
}
