import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport
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
        // The deadline must cut a running handler short: at least one event
        // proves the handler started before it (under load, a short deadline
        // can pass before the request is even complete).
        var received = 0
        var failure: (any Error)?
        do {
            for try await _ in client.serverStreaming(
                "/orchion.v1.ControlService/WatchEvents", Orchion_V1_WatchEventsRequest(), as: Orchion_V1_JobEvent.self,
                timeoutMillis: 1000)
            {
                received += 1
            }
        } catch {
            failure = error
        }
        #expect((failure as? RPCError)?.code == .deadlineExceeded, "\(String(describing: failure))")
        #expect(received > 0, "the handler ran before the deadline")
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

    /// A server that takes the HTTP/2 handshake and then reads nothing: the
    /// client's sends must suspend at the high-water mark instead of queueing
    /// every message.
    @Test func sendsSuspendWhileTheServerTakesNothing() async throws {
        let script = """
            import socket, sys
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            print(listener.getsockname()[1], flush=True)
            listener.settimeout(20)
            peer, _ = listener.accept()
            peer.sendall(bytes.fromhex("000000040000000000"))  # empty SETTINGS
            sys.stdin.readline()  # the test says when to go; nothing more is read
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")), let byte = try output.fileHandleForReading.read(upToCount: 1),
            !byte.isEmpty
        {
            line += byte
        }
        let port = try #require(
            UInt16(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        let thread = try LoopThread()
        let client = try await GRPCClient.connect(
            loop: thread.loop, to: SocketAddress(host: "127.0.0.1", port: port), token: "t")
        let (writer, replies) = client.bidirectional(
            "/orchion.v1.AgentService/Connect", sending: Orchion_V1_AgentMessage.self,
            receiving: Orchion_V1_ServerMessage.self)
        let sent = Counter()
        let sender = Task {
            let message = Orchion_V1_AgentMessage.with { $0.logChunk.data = Data(repeating: 7, count: 1024) }
            for _ in 0..<2000 {
                try await writer.send(message)
                sent.increment()
            }
        }
        // 64 KiB of window plus the 256 KiB high-water mark hold about 300 messages of ~1 KiB.
        for _ in 0..<500 where sent.value < 250 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(sent.value >= 250, "sends proceed up to the high-water mark")
        let stalled = sent.value
        for _ in 0..<25 where sent.value == stalled { try await Task.sleep(for: .milliseconds(20)) }
        #expect(sent.value < 400, "then suspend: \(sent.value) of 2000 sent")
        print("client high-water mark: \(sent.value) sends of ~1 KiB completed before suspending")
        sender.cancel()
        withExtendedLifetime(replies) {}  // dropping the replies would cancel the call
        try input.fileHandleForWriting.write(contentsOf: Data("go\n".utf8))
        process.waitUntilExit()
        await client.close()
        _ = await sender.result  // the suspended send fails once the connection closes
        try thread.shutdown()
    }
}

/// A count shared between a sending task and the test.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
