import Foundation
import OrchionLoop
import TestSupport
import Testing

@testable import OrchionWire

/// Misbehaving HTTP/2 peers, built frame by frame (Tests/Fixtures/h2_peer.py):
/// each is slowed, refused, reset or dropped within a bound, the server's
/// buffers stay bounded, and the server keeps serving.
@Suite(.serialized) struct HTTP2BoundsTests {
    private static let python = Paths.root.appendingPathComponent(".venv/bin/python").path
    private static let peer = Paths.root.appendingPathComponent("Tests/Fixtures/h2_peer.py").path

    private func peer(_ fixture: WireFixture, _ scenario: String, _ extra: [String] = []) throws -> [String: Any] {
        let result = try runCommand(
            [
                Self.python, Self.peer, String(fixture.port), WireFixture.clientToken, WireFixture.joinToken,
                scenario,
            ] + extra, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    private func serving(_ fixture: WireFixture) throws -> Bool {
        try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}"
    }

    /// Server connections (TCP handles other than the listener) open on the fixture's loop.
    private func openConnections(_ fixture: WireFixture) async throws -> Int {
        let loop = fixture.thread.loop
        return try await loop.submit { loop.openHandleKinds().filter { $0 == "tcp" }.count - 1 }
    }

    /// Polls `condition` every 20 ms for at most `seconds`; returns its last value.
    private func eventually(within seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test func aSecondMessageOnAUnaryCallIsRefused() async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "unary_two")
        #expect((result["status"] as? String)?.hasPrefix("13 ") == true, "INTERNAL: \(result)")
        #expect(result["after"] as? String == "0", "the next call on the same connection is served")
        try await fixture.stop()
    }

    @Test func aUnaryRequestThatNeverEndsIsRefusedAtItsSecondMessage() async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "unary_flood")
        let sent = try #require(result["sent"] as? Int)
        #expect((result["status"] as? String)?.hasPrefix("13 ") == true, "INTERNAL: \(result)")
        #expect(result["reset"] as? Bool == true, "the stream is reset, so nothing more of it is buffered")
        // The peer may send what the windows allow before the refusal arrives, not more.
        #expect(sent <= 2 << 20, "sent \(sent) bytes before the refusal")
        print("unary flood: \(sent) B sent before the refusal; \(result)")
        let port = try #require(result["port"] as? Int)
        let peaks = try #require(HTTP2Statistics.peaks(peerPort: UInt16(port)))
        #expect(peaks.bufferedInboundBytes <= 64 << 10, "held \(peaks.bufferedInboundBytes) request bytes")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func refusedRequestBytesGoBackToTheConnectionWindow() async throws {
        let fixture = try await WireFixture()
        // 200 refused calls of 32 KiB each: 6 MiB, six times the connection window.
        let result = try peer(fixture, "refusals", ["200"])
        #expect(result["calls"] as? Int == 200, "no call stalled for window: \(result)")
        #expect(result["statuses"] as? [String] == ["13"], "each was refused as INTERNAL")
        try await fixture.stop()
    }

    @Test func manySmallMessagesAreSlowedByFlowControl() async throws {
        let fixture = try await WireFixture()
        // The peer never grants window for the replies, so the agent handler
        // blocks on send and stops taking heartbeats; the peer must then stall.
        let result = try peer(fixture, "agent_flood", ["1.0"])
        let sent = try #require(result["sent"] as? Int)
        let unacknowledged = try #require(result["unacknowledged"] as? Int)
        #expect(try #require(result["blocked_for"] as? Double) >= 1.0, "the peer was stopped by flow control")
        #expect(unacknowledged <= 64 << 10, "at most one stream window of requests waits in the server")
        #expect(sent < 4 << 20, "sent \(sent) bytes in all")
        print("agent flood: \(result)")
        let port = try #require(result["port"] as? Int)
        let peaks = try #require(HTTP2Statistics.peaks(peerPort: UInt16(port)))
        #expect(peaks.bufferedInboundBytes <= 64 << 10, "held \(peaks.bufferedInboundBytes) request bytes")
        #expect(peaks.unsentBytes <= (256 << 10) + (1 << 20), "held \(peaks.unsentBytes) response bytes")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    /// "flow-control": the replies wait for window the peer never grants (a
    /// stream-level write stall). "open-window": the peer grants everything and
    /// sends 8 MiB of heartbeats, so the replies pile up on the socket, the
    /// server stops reading, and the connection's write timeout drops it.
    @Test(arguments: ["flow-control", "open-window"])
    func aStreamWhosePeerNeverReadsIsDroppedAfterTheWriteTimeout(_ window: String) async throws {
        var limits = WireLimits()
        limits.writeTimeoutMillis = 300
        limits.idleTimeoutMillis = 300
        limits.http2.streamWindowBytes = 8 << 20
        limits.http2.connectionWindowBytes = 8 << 20
        let fixture = try await WireFixture(limits: limits)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments =
            [Self.peer, String(fixture.port), WireFixture.clientToken, WireFixture.joinToken, "never_read"]
            + (window == "open-window" ? ["open-window", String(8 << 20)] : [])
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let reader = output.fileHandleForReading
        var firstLine = Data()
        while !firstLine.contains(UInt8(ascii: "\n")), let byte = try reader.read(upToCount: 1), !byte.isEmpty {
            firstLine += byte
        }
        let hello = try #require(try JSONSerialization.jsonObject(with: firstLine) as? [String: Any])
        let port = UInt16(try #require(hello["port"] as? Int))
        // The handler answers every heartbeat; the peer reads nothing. The replies
        // wait (for window, or on the socket) past the write timeout: the stream
        // is reset or the connection dropped.
        #expect(try await eventually(within: 10) { try await openConnections(fixture) == 0 }, "descriptor freed")
        let peaks = try #require(HTTP2Statistics.peaks(peerPort: port))
        #expect(peaks.unsentBytes <= (256 << 10) + (2 << 20), "held \(peaks.unsentBytes) response bytes")
        #expect(peaks.bufferedInboundBytes <= Int(limits.http2.streamWindowBytes), "at most one window of requests")
        print(
            "never-read (\(window)): peak unsent \(peaks.unsentBytes) B, peak inbound \(peaks.bufferedInboundBytes) B")
        try input.fileHandleForWriting.write(contentsOf: Data("look\n".utf8))
        let rest = try reader.readToEnd() ?? Data()
        process.waitUntilExit()
        let result = try #require(try JSONSerialization.jsonObject(with: rest) as? [String: Any])
        #expect(result["closed"] as? Bool == true, "the peer sees its connection closed")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test(arguments: ["reset", "close"])
    func peersThatCloseWhileTheServerWritesCostNothing(_ how: String) async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "close_mid_write", ["30", how])
        #expect(result["after"] as? String == "0", "a call after thirty abrupt closes is served")
        #expect(try await eventually(within: 10) { try await openConnections(fixture) == 0 }, "every descriptor freed")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func aSilentPeerIsDroppedByThePingTimeout() async throws {
        var limits = WireLimits()
        limits.http2.pingIntervalMillis = 200
        limits.http2.pingTimeoutMillis = 300
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "silent", ["5"])
        #expect(result["ping"] as? Bool == true, "a PING was sent")
        #expect(result["closed"] as? Bool == true, "the connection was closed")
        #expect(try #require(result["after"] as? Double) < 3, "within a bound of the PING timeout")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func aPeerThatAnswersPingsStaysConnected() async throws {
        var limits = WireLimits()
        limits.http2.pingIntervalMillis = 100
        limits.http2.pingTimeoutMillis = 300
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "answers_pings", ["1.5"])
        #expect(try #require(result["pings"] as? Int) >= 2, "PINGs keep coming while the peer is quiet")
        #expect(result["closed"] as? Bool == false, "and answering them keeps the connection")
        try await fixture.stop()
    }

    @Test func halfOpenStreamsAndPartialMessagesAreResetThenTheIdleConnectionCloses() async throws {
        var limits = WireLimits()
        limits.requestTimeoutMillis = 300
        limits.idleTimeoutMillis = 300
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "half_open", ["5"])
        #expect(result["resets"] as? [Int] == [1, 3], "both streams reset: \(result)")
        #expect((result["status1"] as? String)?.hasPrefix("4 ") == true, "DEADLINE_EXCEEDED for the unary call")
        #expect((result["status3"] as? String)?.hasPrefix("4 ") == true, "and for the partial message")
        #expect(result["goaway"] as? Bool == true, "then GOAWAY once no stream is left")
        #expect(try #require(result["after"] as? Double) < 3)
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func anHPACKBombGetsAStreamErrorAndTheServerStaysResponsive() async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "header_bomb")
        #expect(result["reset"] as? Bool == true, "the stream is reset: \(result)")
        #expect(result["goaway"] as? Bool == false, "the connection lives on")
        #expect(try #require(result["answered_in"] as? Double) < 1, "without starving the loop")
        print("HPACK bomb: answered in \(result["answered_in"] ?? "?") s")
        #expect(result["after"] as? String == "0", "the next call on the same connection is served")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func aContinuationFloodEndsTheConnection() async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "continuation_flood", ["100"])
        #expect(result["closed"] as? Bool == true, "the connection is closed (after GOAWAY, if it got through)")
        #expect(try serving(fixture))
        try await fixture.stop()
    }
    @Test func partialUnaryCallsOnOneConnectionStayWithinTheRequestBudget() async throws {
        var limits = WireLimits()
        limits.maxBodyBytes = 256 << 10
        limits.http2.maxBufferedRequestBytes = 512 << 10
        let fixture = try await WireFixture(limits: limits)
        // 16 calls each declaring 256 KiB and sending all of it but one byte: 4 MiB unbounded.
        let result = try peer(fixture, "partial_unary", ["16", String(256 << 10), "2"])
        let port = try #require(result["port"] as? Int)
        let peaks = try #require(HTTP2Statistics.peaks(peerPort: UInt16(port)))
        let bound =
            limits.http2.maxBufferedRequestBytes + Int(limits.http2.connectionWindowBytes) + limits.maxBodyBytes
        #expect(peaks.bufferedInboundBytes <= bound, "held \(peaks.bufferedInboundBytes) request bytes")
        print("partial unary: sent \(result["sent"] ?? "?") B, peak inbound \(peaks.bufferedInboundBytes) B")
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func oneLargeUnaryRequestIsServedUnderTheRequestBudget() async throws {
        var limits = WireLimits()
        limits.http2.maxBufferedRequestBytes = 64 << 10  // raised to one maxBodyBytes message
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "large_unary", [String(limits.maxBodyBytes - 16)])
        #expect(result["statuses"] as? [String] == ["0"], "served: \(result)")
        #expect(result["unsent"] as? Int == 0)
        try await fixture.stop()
    }

    /// Six messages of almost 256 KiB each on one connection whose budget
    /// holds one: the messages complete one after another (none waits for a
    /// timeout), and the buffered bytes stay within the bound.
    @Test func concurrentLargeUnaryRequestsOverTheBudgetAreAllServed() async throws {
        var limits = WireLimits()
        limits.maxBodyBytes = 256 << 10
        limits.http2.maxBufferedRequestBytes = 0  // raised to one maxBodyBytes message
        limits.requestTimeoutMillis = 30_000
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "large_unary", [String(limits.maxBodyBytes - 16), "6"])
        #expect(result["statuses"] as? [String] == ["0"], "all served: \(result)")
        #expect(result["unsent"] as? Int == 0)
        #expect(try #require(result["seconds"] as? Double) < 10, "without waiting for a timeout")
        let port = try #require(result["port"] as? Int)
        let peaks = try #require(HTTP2Statistics.peaks(peerPort: UInt16(port)))
        let bound = limits.maxBodyBytes + 5 + Int(limits.http2.connectionWindowBytes) + limits.maxBodyBytes
        #expect(peaks.bufferedInboundBytes <= bound, "held \(peaks.bufferedInboundBytes) request bytes")
        print("concurrent large unary: \(result), peak inbound \(peaks.bufferedInboundBytes) B")
        try await fixture.stop()
    }

    @Test func aRequestTimeoutResetFollowsTheTrailersPromptly() async throws {
        var limits = WireLimits()
        limits.requestTimeoutMillis = 1000
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "timeout_reset")
        #expect((result["status"] as? String)?.hasPrefix("4 ") == true, "DEADLINE_EXCEEDED: \(result)")
        #expect(result["reset"] as? Bool == true, "RST_STREAM follows")
        #expect(try #require(result["gap"] as? Double) < 0.5, "right after the trailers, not a timeout later")
        try await fixture.stop()
    }

    @Test func pingsWithoutAStreamDoNotKeepAConnectionOpen() async throws {
        var limits = WireLimits()
        limits.idleTimeoutMillis = 500
        limits.http2.pingIntervalMillis = 100
        let fixture = try await WireFixture(limits: limits)
        let result = try peer(fixture, "ping_hold", ["5", "0.1"])
        #expect(result["closed"] as? Bool == true, "closed by the idle timeout: \(result)")
        #expect(result["goaway"] as? Bool == true, "with GOAWAY")
        #expect(try #require(result["after"] as? Double) < 2.5)
        #expect(try await eventually(within: 5) { try await openConnections(fixture) == 0 }, "descriptor freed")
        try await fixture.stop()
    }

    @Test(arguments: ["data", "unknown", "priority"])
    func aFloodOfEmptyFramesEndsTheConnection(_ kind: String) async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "empty_frames", [kind, "20000"])
        #expect(result["closed"] as? Bool == true, "the connection is closed: \(result)")
        if let code = result["goaway_code"] as? Int { #expect(code == 11, "GOAWAY(ENHANCE_YOUR_CALM)") }
        #expect(try serving(fixture))
        try await fixture.stop()
    }

    @Test func aFewEmptyFramesAreTolerated() async throws {
        let fixture = try await WireFixture()
        let result = try peer(fixture, "empty_frames", ["unknown", "500"])
        #expect(result["closed"] as? Bool == false, "the connection lives on: \(result)")
        try await fixture.stop()
    }
}
