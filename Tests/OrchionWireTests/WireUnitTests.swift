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

    @Test func pathSegmentsDecodeStrictlyAndAnEscapedSlashStaysInItsSegment() throws {
        #expect(try request("/v1%2Fnodes?x=1").strictPath() == ["", "v1/nodes"])
        #expect(try request("/v1/jobs/a+b%3Ac").strictPath() == ["", "v1", "jobs", "a+b:c"])
        for bad in ["/v1/nodes/%+6", "/v1/nodes/%G1", "/v1/nodes/%", "/v1/nodes/%4", "/v1/nodes/%FF"] {
            #expect(throws: RPCError.self, "\(bad)") { try request(bad).strictPath() }
        }
        #expect(request("/a%+6b").path == "/a%+6b", "a sign is no hex digit, even in the lenient decoder")
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

    @Test func bearerPrefixesAreComparedAsBytes() throws {
        let authenticator = Authenticator(joinToken: "join", clientTokens: ["tests": "secret"])
        #expect(try authenticator.authenticate("Bearer secret") == .client("tests", .admin))
        #expect(try authenticator.authenticate("bEARER secret") == .client("tests", .admin))
        #expect(try authenticator.authenticate("Bearer join") == .agent)
        for value in ["Bearer\u{E9}secret", "Bearer\u{1F600}x", "Bearer\u{0}secret", "Bearer", "", "Basic secret"] {
            #expect(throws: RPCError.self, "\(value.debugDescription)") { try authenticator.authenticate(value) }
        }
        #expect(throws: RPCError.self) { try authenticator.authenticate(nil) }
        let padded = "secret" + String(repeating: "\u{0}", count: 256)
        #expect(!Authenticator.constantTimeEqual(Array("secret".utf8), padded[...].utf8), "lengths 256 apart differ")
    }

    @Test func queryValuesAreDecodedByTheirFieldsTypes() throws {
        let jobs = try QueryDecoder.decode(
            Orchion_V1_ListJobsRequest.self,
            items: request("/v1/jobs?node_id=7&page_token=12&page_size=5&state=JOB_STATE_RUNNING").queryItems())
        #expect(jobs.nodeID == "7" && jobs.pageToken == "12" && jobs.pageSize == 5 && jobs.state == .running)
        let numbered = try QueryDecoder.decode(
            Orchion_V1_ListJobsRequest.self, items: request("/v1/jobs?state=3&page_token=%30%31").queryItems())
        #expect(numbered.state == .running && numbered.pageToken == "01", "leading zeros stay in a string")
        let logs = try QueryDecoder.decode(
            Orchion_V1_FollowLogsRequest.self, items: request("/x?follow=true&offset=18446744073709551615").queryItems()
        )
        #expect(logs.follow && logs.offset == UInt64.max)
        let events = try QueryDecoder.decode(
            Orchion_V1_WatchEventsRequest.self, items: request("/x?job_id=123&after=0").queryItems())
        #expect(events.jobID == "123" && events.after == 0)
        #expect(QueryDecoder.kind(of: "job_id", in: Orchion_V1_WatchEventsRequest.self) == .string)
        #expect(QueryDecoder.kind(of: "jobId", in: Orchion_V1_WatchEventsRequest.self) == .string)
        #expect(QueryDecoder.kind(of: "follow", in: Orchion_V1_FollowLogsRequest.self) == .bool)
        #expect(QueryDecoder.kind(of: "state", in: Orchion_V1_ListJobsRequest.self) == .number)
        #expect(QueryDecoder.kind(of: "nope", in: Orchion_V1_ListJobsRequest.self) == .unknown)
        #expect(QueryDecoder.kind(of: "spec", in: Orchion_V1_SubmitJobRequest.self) == .unsupported)
        #expect(throws: RPCError.self) {
            try QueryDecoder.decode(
                Orchion_V1_FollowLogsRequest.self, items: request("/x?offset=18446744073709551616").queryItems())
        }
    }
}
