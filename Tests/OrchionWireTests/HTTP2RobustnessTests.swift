import Foundation
import OrchionWire
import TestSupport
import Testing

/// Broken HTTP/2 peers: each is answered or dropped, and the server keeps serving.
@Suite(.serialized) struct HTTP2RobustnessTests {
    /// Sends the preface plus `tail` (hex) and reports the frame types the
    /// server sent back before closing, and whether it closed within 3 s.
    private func exchange(_ fixture: WireFixture, preface: Bool = true, tail: String) throws -> (
        types: [Int], closed: Bool
    ) {
        let result = try fixture.python(
            """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.settimeout(3)
            s.sendall((b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" if \(preface ? "True" : "False") else b"PRI * HTTP") + bytes.fromhex("\(tail)"))
            data, closed = b"", False
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        closed = True
                        break
                    data += chunk
            except socket.timeout:
                pass
            types, at = [], 0
            while at + 9 <= len(data):
                length = int.from_bytes(data[at:at + 3], "big")
                types.append(data[at + 3])
                at += 9 + length
            print(",".join(map(str, types)) + ("|closed" if closed else "|open"))
            """)
        let parts = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
        let types = parts.first.map { $0.split(separator: ",").compactMap { Int($0) } } ?? []
        return (types, parts.last == "closed")
    }

    @Test func garbageFramesGetGoAwayAndTheServerKeepsServing() async throws {
        let fixture = try await WireFixture()
        // A DATA frame on stream 0 is a connection error.
        let garbage = try exchange(fixture, tail: "000004000000000000deadbeef")
        #expect(garbage.types.contains(7), "GOAWAY sent")
        #expect(garbage.closed)
        #expect(try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func truncatedFramesAndHalfPrefacesAreDropped() async throws {
        var limits = WireLimits()
        limits.requestTimeoutMillis = 300
        limits.idleTimeoutMillis = 300
        let fixture = try await WireFixture(limits: limits)
        // A SETTINGS frame header promising 12 bytes, then 2 of them, then silence.
        let truncated = try exchange(fixture, tail: "00000c0400000000000003")
        #expect(truncated.types.first == 4, "the server's own SETTINGS still arrive")
        #expect(truncated.types.last == 7 && truncated.closed, "a peer stalled mid-frame gets GOAWAY when idle")
        let half = try exchange(fixture, preface: false, tail: "")
        #expect(half.closed && half.types.isEmpty, "a stalled preface is closed by the request timeout")
        #expect(try fixture.curl(["\(fixture.base)/healthz"]).stdout == "{\"status\":\"SERVING\"}")
        try await fixture.stop()
    }

    @Test func nonGRPCRequestsOnHTTP2GetAStatus() async throws {
        let fixture = try await WireFixture()
        let result = try fixture.curl([
            "--http2-prior-knowledge", "-s", "-o", "/dev/null", "-w", "%{http_code}", "\(fixture.base)/v1/nodes",
        ])
        #expect(result.stdout == "415")
        try await fixture.stop()
    }
}
