import Foundation
import OrchionLoop
import OrchionProto
import OrchionServer
import OrchionWire
import TestSupport
import Testing

/// `LogStore.send` behind a real APIServer on 127.0.0.1: curl follows a
/// job's log as Server-Sent Events while output arrives.
@Suite struct LogFollowOverSSETests {
    static let token = "logs-client-token-0123456"

    @Test func curlFollowsALiveLogOverSSEUntilTheAttemptFinishes() async throws {
        let fixture = try await LogFixture()
        defer { fixture.remove() }
        let loop = fixture.loop
        let store = fixture.store
        let control = NoControl { request, stream in
            try await store.send(
                jobID: request.jobID, attempt: 1, from: request.offset, follow: request.follow, to: stream)
        }
        let authenticator = Authenticator(joinToken: nil, clientTokens: ["tests": Self.token])
        let (server, port) = try await loop.submit {
            let server = try APIServer.start(
                loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0), authenticator: authenticator,
                control: control)
            return (LoopBound(server, loop: loop), server.address.port)
        }
        do {
            try await fixture.append("sse-job", .stdout, at: 0, "first\n")
            let url = "http://127.0.0.1:\(port)/v1/jobs/sse-job/logs?follow=true"
            let curl = Task.detached {
                try runCommand(
                    ["curl", "-sS", "-N", "--max-time", "30", "-H", "Authorization: Bearer \(Self.token)", url],
                    timeout: 40)
            }
            let followers = fixture.metrics.logFollowers
            #expect(await eventually(within: 20) { followers.value == 1 }, "curl's read never started")
            try await fixture.append("sse-job", .stderr, at: 0, "second\n")
            try await fixture.finish("sse-job")
            let output = try await curl.value
            #expect(output.status == 0, "\(output.stderr)")
            let events = output.stdout.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count == 2, "\(output.stdout)")
            // bytes are base64 in protobuf's JSON: "first\n", then "second\n" at offset 6.
            #expect(events.first?.hasPrefix("event: log\ndata: {") == true)
            #expect(events.first?.contains("\"data\":\"Zmlyc3QK\"") == true, "\(output.stdout)")
            #expect(events.first?.contains("\"stream\":\"LOG_STREAM_STDOUT\"") == true)
            #expect(events.last?.contains("\"data\":\"c2Vjb25kCg==\"") == true, "\(output.stdout)")
            #expect(events.last?.contains("\"offset\":\"6\"") == true)
            #expect(events.last?.contains("\"stream\":\"LOG_STREAM_STDERR\"") == true)

            // Without follow, a read after the fact ends at once with the same two chunks.
            let again = try runCommand(
                [
                    "curl", "-sS", "--max-time", "10", "-H", "Authorization: Bearer \(Self.token)",
                    "http://127.0.0.1:\(port)/v1/jobs/sse-job/logs",
                ], timeout: 20)
            #expect(again.stdout.components(separatedBy: "event: log\n").count == 3, "\(again.stdout)")
        } catch {
            try await stop(server, fixture)
            throw error
        }
        try await stop(server, fixture)
    }

    /// Closes the listener, waits (bounded) for the connections to close
    /// (the store's timer stays until the store closes), then stops the fixture.
    private func stop(_ server: LoopBound<WireServer>, _ fixture: LogFixture) async throws {
        let loop = fixture.loop
        try await loop.submit { server.wrapped.close() }
        _ = await eventually {
            (try? await loop.submit { loop.openHandleKinds().allSatisfy { $0 == "timer" } }) ?? false
        }
        try await fixture.stop()
    }
}
