import Foundation
import OrchionWire
import TestSupport
import Testing

/// What the server decides from a request's head alone: authorization
/// before any body byte, obsolete folding whatever precedes it, Expect,
/// upgrades, repeated or unsupported framing headers, versions, and strict
/// path escapes. Real sockets on 127.0.0.1 through Python.
@Suite(.serialized) struct HTTP1HeadTests {
    private static let token = WireFixture.clientToken

    /// Sends only `head`, reads what the server says within 3 s (until it
    /// closes, or 0.5 s pass after the first bytes), then sends `body` and
    /// reads the rest. Prints both parts, separated by a line "----".
    private func headThenBody(_ fixture: WireFixture, head: String, body: String, times: Int = 1) throws -> (
        String, String
    ) {
        let output = try fixture.python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            def read(first_timeout):
                out = b""
                s.settimeout(first_timeout)
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk: break
                        out += chunk
                        s.settimeout(0.5)
                except (socket.timeout, ConnectionResetError):
                    pass
                return out
            s.sendall(\(pythonBytes(head)))
            first = read(3)
            try:
                s.sendall(\(pythonBytes(body)) * \(times))
            except (BrokenPipeError, ConnectionResetError):
                pass
            second = read(3)
            sys.stdout.write(first.decode("latin-1") + "\\n----\\n" + second.decode("latin-1"))
            """
        ).stdout
        let parts = output.components(separatedBy: "\n----\n")
        return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
    }

    @Test func aTokenlessBodyIsRefusedAtTheHeadBeforeAnyBodyByteIsSent() async throws {
        let fixture = try await WireFixture()
        let head =
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4194304\r\n\r\n"
        let (first, second) = try headThenBody(fixture, head: head, body: "x", times: 65536)
        #expect(first.hasPrefix("HTTP/1.1 401 Unauthorized"), "\(first)")
        #expect(first.contains("WWW-Authenticate: Bearer") && first.contains("Connection: close"))
        #expect(second.isEmpty, "nothing more after the refusal: \(second)")
        // The agent join token is refused at the head too; /healthz needs no token.
        let agent = head.replacingOccurrences(
            of: "Host: x\r\n", with: "Host: x\r\nAuthorization: Bearer \(WireFixture.joinToken)\r\n")
        #expect(try headThenBody(fixture, head: agent, body: "").0.hasPrefix("HTTP/1.1 403 Forbidden"))
        #expect(
            try fixture.rawExchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").hasPrefix(
                "HTTP/1.1 200 OK"))
        // Pipelined after a good request, the refusal comes in turn.
        let pipelined = try fixture.rawExchange(
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + head + String(repeating: "y", count: 1000))
        #expect(
            pipelined.hasPrefix("HTTP/1.1 200 OK") && pipelined.contains("HTTP/1.1 401 Unauthorized"), "\(pipelined)")
        try await fixture.stop()
    }

    @Test func fiftyTokenlessFourMiBBodiesRaiseTheServersPeakMemoryByLessThan64MiB() async throws {
        let fixture = try await WireFixture()
        // Resets this process's peak RSS (VmHWM), then reads it after the flood.
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let before = try Self.peakResidentKiB()
        let result = try fixture.python(
            """
            import socket, sys, threading
            port = int(sys.argv[1])
            head = b"POST /v1/jobs HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4194304\\r\\n\\r\\n"
            body = b"x" * 4194304
            refused = 0
            lock = threading.Lock()
            def one():
                global refused
                s = socket.create_connection(("127.0.0.1", port))
                s.settimeout(5)
                try:
                    s.sendall(head + body)
                except OSError:
                    pass
                try:
                    answer = s.recv(100)
                except OSError:
                    answer = b""
                with lock:
                    if answer.startswith(b"HTTP/1.1 401"): refused += 1
                s.close()
            threads = [threading.Thread(target=one) for _ in range(50)]
            for t in threads: t.start()
            for t in threads: t.join(15)
            print(refused)
            """
        )
        let after = try Self.peakResidentKiB()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(after - before < 64 << 10, "peak RSS grew by \(after - before) KiB for 50 × 4 MiB tokenless bodies")
        #expect(
            try fixture.rawExchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").hasPrefix(
                "HTTP/1.1 200 OK"))
        try await fixture.stop()
    }

    private static func peakResidentKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let value = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw CocoaError(.fileReadCorruptFile) }
        return value
    }

    @Test func foldedLinesAre400WhateverTheLineBeforeHeld() async throws {
        let fixture = try await WireFixture()
        let folded = [
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nTransfer-Encoding:\r\n chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nContent-Length:\r\n 2\r\n\r\n{}",
            "GET /v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization:\r\n\tBearer \(Self.token)\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost:\r\n x\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: \r\n  b\r\n\r\n",
        ]
        for request in folded {
            let whole = try fixture.rawExchange(request)
            #expect(whole.hasPrefix("HTTP/1.1 400 Bad Request"), "\(request.debugDescription): \(whole)")
            #expect(whole.contains("obsolete line folding"), "\(request.debugDescription): \(whole)")
            // The same with the fold line arriving in a read of its own.
            guard let cut = request.range(of: ":\r\n")?.upperBound else { continue }
            let split = try fixture.rawExchange(
                request, pauseAfter: request.utf8.distance(from: request.startIndex, to: cut))
            #expect(split.contains("obsolete line folding"), "split \(request.debugDescription): \(split)")
        }
        try await fixture.stop()
    }

    @Test func expectContinueGets100OnlyAfterTheHeadPasses() async throws {
        let fixture = try await WireFixture()
        let body = "{\"spec\":{\"command\":\"echo hi\"}}"
        let head =
            "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n"
        let (first, second) = try headThenBody(
            fixture, head: head + "Authorization: Bearer \(Self.token)\r\n\r\n", body: body)
        #expect(first == "HTTP/1.1 100 Continue\r\n\r\n", "\(first)")
        #expect(second.hasPrefix("HTTP/1.1 200 OK") && second.contains("JOB_STATE_PENDING"), "\(second)")
        let (refused, after) = try headThenBody(fixture, head: head + "\r\n", body: body)
        #expect(refused.hasPrefix("HTTP/1.1 401 Unauthorized"), "no 100 before a refusal: \(refused)")
        #expect(after.isEmpty)
        let (unknown, _) = try headThenBody(
            fixture, head: head.replacingOccurrences(of: "100-continue", with: "200-ok") + "\r\n", body: body)
        #expect(unknown.hasPrefix("HTTP/1.1 417 Expectation Failed") && unknown.contains("200-ok"), "\(unknown)")
        try await fixture.stop()
    }

    @Test func upgradesRepeatsUnsupportedFramingVersionsAndBadPathsGetClearAnswers() async throws {
        let fixture = try await WireFixture()
        let auth = "Authorization: Bearer \(Self.token)\r\n"
        let next = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        let cases: [(String, String, String)] = [
            ("CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n" + next, "501", "CONNECT is not supported"),
            (
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n" + next,
                "501", "protocol upgrade to 'h2c' is not supported"
            ),
            (
                "GET /v1/nodes HTTP/1.1\r\nHost: x\r\n\(auth)\(auth)\r\n", "400",
                "expected at most one Authorization header, found 2"
            ),
            (
                "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n\(auth)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501",
                "Transfer-Encoding 'gzip, chunked' not supported"
            ),
            (
                "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n\(auth)Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
                "501",
                "Transfer-Encoding 'chunked, chunked' not supported"
            ),
            ("GET /healthz HTTP/1.9\r\nHost: x\r\n\r\n", "505", "HTTP version 1.9 not supported"),
            ("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", "505", "HTTP version 2.0 not supported"),
            (
                "GET /v1/nodes/%+6 HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n", "400",
                "malformed path segment"
            ),
            (
                "GET /v1/nodes/%G1 HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n", "400",
                "malformed path segment"
            ),
            (
                "GET /v1/nodes/% HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n", "400",
                "malformed path segment"
            ),
            (
                "GET /v1%2Fnodes HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n", "404",
                "no route for /v1%2Fnodes"
            ),
        ]
        for (request, status, message) in cases {
            let reply = try fixture.rawExchange(request)
            #expect(reply.hasPrefix("HTTP/1.1 \(status) "), "\(request.debugDescription): \(reply)")
            #expect(reply.contains(message), "\(request.debugDescription): \(reply)")
            #expect(!reply.contains(": success"), "\(request.debugDescription): \(reply)")
        }
        // Escapes that decode well still route: %6E is "n".
        let escaped = try fixture.rawExchange("GET /v1/%6Eodes HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n")
        #expect(escaped.hasPrefix("HTTP/1.1 200 OK"), "\(escaped)")
        try await fixture.stop()
    }
}
