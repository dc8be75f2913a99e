import OrchionProto
import Testing

@testable import OrchionWire

/// Small pieces of the wire, tested directly.
@Suite struct WireUnitTests {
    private func request(_ target: String) -> HTTPRequest {
        HTTPRequest(method: "GET", target: target, headers: [("AUTHORIZATION", "Bearer x")], body: [], keepAlive: true)
    }

    @Test func plusIsASpaceInQueriesOnly() {
        let parsed = request("/v1/jobs/a+b%2Fc?name=x+y&note=50%25")
        #expect(parsed.path == "/v1/jobs/a+b/c")
        #expect(parsed.query == ["name": "x y", "note": "50%"])
        #expect(parsed.header("authorization") == "Bearer x", "header names compare case-insensitively")
    }

    @Test func theEncodeCacheReusesBytesOnlyForEqualMessages() throws {
        let cache = EncodedResponseCache()
        let nodes = Orchion_V1_ListNodesResponse.with { $0.nodes = [.with { $0.id = "n1" }] }
        let first = try cache.json(for: "/v1/nodes", nodes)
        let again = try cache.json(for: "/v1/nodes", nodes)
        #expect(
            first.withUnsafeBufferPointer(\.baseAddress) == again.withUnsafeBufferPointer(\.baseAddress),
            "an equal reply is served from the cached buffer")
        var changed = nodes
        changed.nodes[0].hostname = "pi"
        let fresh = try cache.json(for: "/v1/nodes", changed)
        #expect(String(decoding: fresh, as: UTF8.self) == #"{"nodes":[{"id":"n1","hostname":"pi"}]}"#)
        #expect(fresh.withUnsafeBufferPointer(\.baseAddress) != first.withUnsafeBufferPointer(\.baseAddress))
    }

    @Test func grpcTimeoutsAndMessages() {
        #expect(GRPCFraming.timeoutMillis("250m") == 250)
        #expect(GRPCFraming.timeoutMillis("2S") == 2000)
        #expect(GRPCFraming.timeoutMillis("1H") == 3_600_000)
        #expect(GRPCFraming.timeoutMillis("5x") == nil && GRPCFraming.timeoutMillis("m") == nil)
        #expect(GRPCFraming.encodeMessage("50% done\n") == "50%25 done%0A")
        #expect(GRPCFraming.frame([1, 2]) == [0, 0, 0, 0, 2, 1, 2])
    }
}
