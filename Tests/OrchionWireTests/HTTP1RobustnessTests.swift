import Foundation
import OrchionWire
import TestSupport
import Testing

/// Bad or unusual HTTP/1.1 input: each gets its proper answer and the
/// server keeps serving others. Raw sockets via Python, curl for the rest.
@Suite(.serialized) struct HTTP1RobustnessTests {
    private static let token = WireFixture.clientToken

    /// Sends `payload` on a raw socket and returns everything read until the
    /// server closes or 2 s pass.
    private func raw(_ fixture: WireFixture, _ payload: String, pauseAfter: Int? = nil) throws -> String {
        try fixture.python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.settimeout(2)
            data = \(pythonBytes(payload))
            cut = \(pauseAfter.map(String.init) ?? "None")
            if cut is None:
                s.sendall(data)
            else:
                s.sendall(data[:cut]); time.sleep(0.2); s.sendall(data[cut:])
            out = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    out += chunk
            except socket.timeout:
                pass
            sys.stdout.write(out.decode("latin-1"))
            """
        ).stdout
    }

    private func pythonBytes(_ text: String) -> String {
        "b'" + text.utf8.map { String(format: "\\x%02x", $0) }.joined() + "'"
    }

    private func get(_ path: String, close: Bool = false) -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n"
            + (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    @Test func keepAliveAndPipeliningAnswerInOrder() async throws {
        let fixture = try await WireFixture()
        let reply = try raw(fixture, get("/v1/nodes/n1") + get("/v1/nodes/none") + get("/healthz", close: true))
        let statuses = reply.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "404", "200"])
        #expect(reply.hasSuffix("{\"status\":\"SERVING\"}"))
        let reused = try fixture.curl(["-v", "\(fixture.base)/healthz", "\(fixture.base)/healthz"])
        #expect(reused.stderr.contains("Re-using existing connection"))
        try await fixture.stop()
    }

    @Test func pipelinesLongerThanTheQueuePauseReadingAndLoseNothing() async throws {
        var limits = WireLimits()
        limits.maxPipelinedRequests = 2
        let fixture = try await WireFixture(limits: limits)
        let requests = (0..<5).map { get("/v1/nodes/n\($0)") }.joined() + get("/healthz", close: true)
        let statuses = try raw(fixture, requests).components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["404", "200", "404", "404", "404", "200"])
        try await fixture.stop()
    }

    @Test func chunkedBodiesAndBodiesSplitAcrossReads() async throws {
        let fixture = try await WireFixture()
        let body = #"{"spec":{"command":"true"}}"#
        let chunked =
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + "5\r\n\(body.prefix(5))\r\n\(String(body.count - 5, radix: 16))\r\n\(body.dropFirst(5))\r\n0\r\n\r\n"
        #expect(try raw(fixture, chunked).contains("\"state\":\"JOB_STATE_PENDING\""))
        let split = try raw(fixture, get("/v1/nodes/n1", close: true), pauseAfter: 7)
        #expect(split.hasPrefix("HTTP/1.1 200 OK"))
        try await fixture.stop()
    }

    @Test func oversizedHeadersAndBodiesAreRefused() async throws {
        var limits = WireLimits()
        limits.maxBodyBytes = 1024
        limits.maxHeaderBytes = 2048
        let fixture = try await WireFixture(limits: limits)
        let big = String(repeating: "x", count: 4096)
        let header = try fixture.curl(["-i", "-H", "X-Big: \(big)", "\(fixture.base)/healthz"])
        #expect(header.stdout.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large"))
        #expect(header.stdout.contains("request headers exceed 2048 bytes"))
        let body = try fixture.curl(["-i", "-d", "{\"spec\":{\"command\":\"\(big)\"}}", "\(fixture.base)/v1/jobs"])
        #expect(body.stdout.hasPrefix("HTTP/1.1 413 Content Too Large"))
        let chunkedBig =
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n\(big)\r\n0\r\n\r\n"
        #expect(try raw(fixture, chunkedBig).hasPrefix("HTTP/1.1 413"), "chunked bodies are counted too")
        #expect(try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func garbageGetsA400AndOthersAreUnaffected() async throws {
        let fixture = try await WireFixture()
        let garbage = try raw(fixture, "\u{01}\u{02}NOT HTTP AT ALL\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(garbage.contains("malformed HTTP request"))
        let badVersion = try raw(fixture, "GET / HTTP/9.Z\r\n\r\n")
        #expect(badVersion.hasPrefix("HTTP/1.1 400"))
        let halfPreface = try raw(fixture, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        #expect(halfPreface.hasPrefix("HTTP/1.1 400"), "a broken HTTP/2 preface is treated as bad HTTP/1.1")
        #expect(try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func slowClientsTimeOutAndIdleConnectionsClose() async throws {
        var limits = WireLimits()
        limits.requestTimeoutMillis = 300
        limits.idleTimeoutMillis = 300
        let fixture = try await WireFixture(limits: limits)
        let started = Date()
        let slow = try raw(fixture, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
        #expect(slow.hasPrefix("HTTP/1.1 408 Request Timeout"))
        #expect(Date().timeIntervalSince(started) < 1.9, "answered by the server's timeout, not the client's")
        let idle = try raw(fixture, get("/healthz"))
        #expect(idle.hasPrefix("HTTP/1.1 200 OK"), "the connection then closes when idle")
        try await fixture.stop()
    }
}
