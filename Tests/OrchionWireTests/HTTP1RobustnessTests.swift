import Foundation
import OrchionWire
import TestSupport
import Testing

/// Bad or unusual HTTP/1.1 input: each gets its proper answer and the
/// server keeps serving others. Raw sockets via Python, curl for the rest.
@Suite(.serialized) struct HTTP1RobustnessTests {
    private static let token = WireFixture.clientToken

    /// Sends `payload` (split in two writes 0.2 s apart at `pauseAfter`)
    /// and reads until the server closes or 3 s pass; returns what was read,
    /// whether the server closed, and after how many seconds.
    private func exchange(_ fixture: WireFixture, _ payload: String, pauseAfter: Int? = nil) throws -> (
        reply: String, closed: Bool, seconds: Double
    ) {
        let output = try fixture.python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.settimeout(3)
            data = \(pythonBytes(payload))
            cut = \(pauseAfter.map(String.init) ?? "None")
            start = time.monotonic()
            if cut is None:
                s.sendall(data)
            else:
                s.sendall(data[:cut]); time.sleep(0.2); s.sendall(data[cut:])
            out, closed = b"", False
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        closed = True
                        break
                    out += chunk
            except (socket.timeout, ConnectionResetError):
                closed = closed
            sys.stdout.write("%d %.3f\\n" % (closed, time.monotonic() - start))
            sys.stdout.write(out.decode("latin-1"))
            """
        ).stdout
        let header = output.prefix { $0 != "\n" }.split(separator: " ")
        return (
            String(output.drop { $0 != "\n" }.dropFirst()), header.first == "1",
            Double(header.last ?? "") ?? -1
        )
    }

    private func get(_ path: String, close: Bool = false) -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n"
            + (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    @Test func keepAliveAndPipeliningAnswerInOrder() async throws {
        let fixture = try await WireFixture()
        let reply = try fixture.rawExchange(get("/v1/nodes/n1") + get("/v1/nodes/none") + get("/healthz", close: true))
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
        let statuses = try fixture.rawExchange(requests).components(separatedBy: "HTTP/1.1 ").dropFirst().map {
            $0.prefix(3)
        }
        #expect(statuses == ["404", "200", "404", "404", "404", "200"])
        try await fixture.stop()
    }

    @Test func chunkedBodiesAndBodiesSplitAcrossReads() async throws {
        let fixture = try await WireFixture()
        let body = #"{"spec":{"command":"true"}}"#
        let chunked =
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + "5\r\n\(body.prefix(5))\r\n\(String(body.count - 5, radix: 16))\r\n\(body.dropFirst(5))\r\n0\r\n\r\n"
        #expect(try fixture.rawExchange(chunked).contains("\"state\":\"JOB_STATE_PENDING\""))
        let split = try fixture.rawExchange(get("/v1/nodes/n1", close: true), pauseAfter: 7)
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
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n\(big)\r\n0\r\n\r\n"
        #expect(try fixture.rawExchange(chunkedBig).hasPrefix("HTTP/1.1 413"), "chunked bodies are counted too")
        #expect(try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func garbageGetsA400AndOthersAreUnaffected() async throws {
        let fixture = try await WireFixture()
        let garbage = try fixture.rawExchange("\u{01}\u{02}NOT HTTP AT ALL\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(garbage.contains("malformed HTTP request"))
        let badVersion = try fixture.rawExchange("GET / HTTP/9.Z\r\n\r\n")
        #expect(badVersion.hasPrefix("HTTP/1.1 400"))
        let halfPreface = try fixture.rawExchange("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        #expect(halfPreface.hasPrefix("HTTP/1.1 400"), "a broken HTTP/2 preface is treated as bad HTTP/1.1")
        #expect(try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func slowClientsTimeOutAndTheServerClosesIdleConnections() async throws {
        var limits = WireLimits()
        limits.requestTimeoutMillis = 300
        limits.idleTimeoutMillis = 300
        let fixture = try await WireFixture(limits: limits)
        let started = Date()
        let slow = try fixture.rawExchange("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        #expect(slow.hasPrefix("HTTP/1.1 408 Request Timeout"))
        #expect(Date().timeIntervalSince(started) < 1.9, "answered by the server's timeout, not the client's")
        let idle = try exchange(fixture, get("/healthz"))
        #expect(idle.reply.hasPrefix("HTTP/1.1 200 OK"))
        #expect(idle.closed, "the server closed the idle keep-alive connection")
        #expect(idle.seconds >= 0.25 && idle.seconds < 2.5, "after the idle timeout (\(idle.seconds) s)")
        try await fixture.stop()
    }

    @Test func rfc9112FramingAndHeaderViolationsAre400AndClose() async throws {
        let fixture = try await WireFixture()
        let bad: [(String, String)] = [
            ("GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", "invalid header name 'Host '"),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "obsolete line folding"),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", "obsolete line folding"),
            ("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "malformed"),
            ("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}", "malformed"),
            ("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n{", "malformed"),
            (
                "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                "malformed"
            ),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX(a): b\r\n\r\n", "malformed"),
            ("GET /healthz HTTP/1.1\r\nX-A: b\r\n\r\n", "expected one Host header in an HTTP/1.1 request, found 0"),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n", "found 2"),
        ]
        for (request, message) in bad {
            let answer = try exchange(fixture, request)
            #expect(answer.reply.hasPrefix("HTTP/1.1 400 Bad Request"), "\(request.debugDescription)")
            #expect(answer.reply.contains(message), "\(request.debugDescription): \(answer.reply)")
            #expect(answer.reply.contains("Connection: close") && answer.closed, "\(request.debugDescription)")
        }
        // What is allowed stays allowed: HTTP/1.0 needs no Host, an empty
        // value, a value split across reads, a line split right after its CRLF.
        let good: [(String, Int?)] = [
            ("GET /healthz HTTP/1.0\r\n\r\n", nil),
            ("GET /healthz HTTP/1.1\r\nX-Empty:\r\nHost: x\r\nConnection: close\r\n\r\n", nil),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: abcdef\r\nConnection: close\r\n\r\n", 30),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: abcdef\r\nConnection: close\r\n\r\n", 41),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: abcdef\r\nConnection: close\r\n\r\n", 28),
        ]
        for (request, cut) in good {
            let answer = try exchange(fixture, request, pauseAfter: cut)
            #expect(answer.reply.hasPrefix("HTTP/1.1 200 OK"), "\(request.debugDescription) cut at \(cut ?? -1)")
        }
        try await fixture.stop()
    }

    @Test func headGetsTheHeadWithoutTheBodySoPipelinedFramingHolds() async throws {
        let fixture = try await WireFixture()
        let answer = try exchange(
            fixture,
            "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let parts = answer.reply.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 3, "two heads and one body: \(answer.reply.debugDescription)")
        #expect(parts.first?.contains("Content-Length: 20") == true, "HEAD keeps the length of the GET body")
        #expect(
            parts.dropFirst().first?.hasPrefix("HTTP/1.1 200 OK") == true, "the next answer follows the head at once")
        #expect(parts.last == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func anAuthorizationValueSplittingAUTF8ScalarGetsA401AndServingGoesOn() async throws {
        let fixture = try await WireFixture()
        // "Bearer" then é: the 7th byte is the first half of a two-byte scalar.
        for value in ["Bearer\u{E9}token", "Bearer\u{1F600}", "B\u{E9}arer token", "\u{E9}\u{E9}\u{E9}\u{E9}"] {
            let answer = try exchange(
                fixture, "GET /v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: \(value)\r\nConnection: close\r\n\r\n")
            #expect(answer.reply.hasPrefix("HTTP/1.1 401 Unauthorized"), "\(value.debugDescription): \(answer.reply)")
        }
        #expect(try fixture.curl(["\(fixture.base)/v1/nodes/n1"]).stdout.contains("\"id\":\"n1\""))
        try await fixture.stop()
    }
}
