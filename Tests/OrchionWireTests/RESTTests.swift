import Foundation
import TestSupport
import Testing

/// The REST/JSON face over HTTP/1.1, as curl sees it.
@Suite(.serialized) struct RESTTests {
    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func healthNeedsNoTokenAndEverythingElseDoes() async throws {
        let fixture = try await WireFixture()
        let health = try fixture.curl(["\(fixture.base)/healthz"], token: nil)
        #expect(health.stdout == "{\"status\":\"SERVING\"}")
        let missing = try fixture.curl(["-i", "\(fixture.base)/v1/nodes"], token: nil)
        #expect(missing.stdout.hasPrefix("HTTP/1.1 401 Unauthorized"))
        #expect(missing.stdout.contains("WWW-Authenticate: Bearer"))
        #expect(missing.stdout.contains("{\"code\":\"UNAUTHENTICATED\",\"message\":\"missing bearer token"))
        let wrong = try fixture.curl(["\(fixture.base)/v1/nodes"], token: "client-token-0123456788")
        #expect(wrong.stdout == "{\"code\":\"UNAUTHENTICATED\",\"message\":\"invalid bearer token\"}")
        #expect(!wrong.stdout.contains("0123456788"), "tokens are never echoed")
        let agent = try fixture.curl(
            ["-o", "/dev/null", "-w", "%{http_code}", "\(fixture.base)/v1/nodes"], token: WireFixture.joinToken)
        #expect(agent.stdout == "403")
        try await fixture.stop()
    }

    @Test func nodesInCanonicalJSON() async throws {
        let fixture = try await WireFixture()
        let list = try json(try fixture.curl(["\(fixture.base)/v1/nodes"]).stdout)
        let node = try #require((list["nodes"] as? [[String: Any]])?.first)
        #expect(node["id"] as? String == "n1")
        #expect(node["state"] as? String == "NODE_STATE_READY")
        #expect(
            (node["capacity"] as? [String: Any])?["cpuMillis"] as? String == "4000",
            "uint64 is a string in protobuf JSON")
        #expect((node["labels"] as? [String: String]) == ["zone": "attic"])

        let one = try json(try fixture.curl(["\(fixture.base)/v1/nodes/n1"]).stdout)
        #expect(one["hostname"] as? String == "pi-01")
        let missing = try fixture.curl(["-w", " %{http_code}", "\(fixture.base)/v1/nodes/nope"])
        #expect(missing.stdout == "{\"code\":\"NOT_FOUND\",\"message\":\"node nope not found\"} 404")
        let drained = try json(try fixture.curl(["-X", "POST", "\(fixture.base)/v1/nodes/n1:drain"]).stdout)
        #expect(drained["state"] as? String == "NODE_STATE_DRAINING")
        try await fixture.stop()
    }

    @Test func jobsSubmitListGetCancel() async throws {
        let fixture = try await WireFixture()
        let body = #"{"spec":{"command":"echo hi","resources":{"cpuMillis":"500"},"env":{"A":"1"}},"requestId":"r1"}"#
        let submitted = try json(
            try fixture.curl(["-H", "Content-Type: application/json", "-d", body, "\(fixture.base)/v1/jobs"]).stdout)
        #expect(submitted["id"] as? String == "job-1")
        #expect(submitted["state"] as? String == "JOB_STATE_PENDING")
        #expect((submitted["spec"] as? [String: Any])?["command"] as? String == "echo hi")

        let listed = try json(try fixture.curl(["\(fixture.base)/v1/jobs?state=JOB_STATE_PENDING"]).stdout)
        #expect((listed["jobs"] as? [[String: Any]])?.count == 1)
        let none = try fixture.curl(["\(fixture.base)/v1/jobs?state=JOB_STATE_FAILED"])
        #expect(none.stdout == "{}", "empty lists are omitted in canonical JSON")
        let got = try json(try fixture.curl(["\(fixture.base)/v1/jobs/job-1"]).stdout)
        #expect(got["id"] as? String == "job-1")
        let cancelled = try json(
            try fixture.curl(["-d", #"{"reason":"changed my mind"}"#, "\(fixture.base)/v1/jobs/job-1:cancel"]).stdout)
        #expect(cancelled["state"] as? String == "JOB_STATE_CANCELLED")
        #expect(cancelled["reason"] as? String == "changed my mind")
        let plugins = try fixture.curl(["\(fixture.base)/v1/plugins"])
        #expect(plugins.stdout.contains("\"name\":\"bin-packing\""))
        try await fixture.stop()
    }

    @Test func typosAndBadInputGetClearErrors() async throws {
        let fixture = try await WireFixture()
        let typo = try fixture.curl([
            "-w", " %{http_code}", "-d", #"{"spec":{"comand":"echo hi"}}"#, "\(fixture.base)/v1/jobs",
        ])
        #expect(
            typo.stdout.hasPrefix(
                "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"invalid JSON for orchion.v1.SubmitJobRequest"))
        #expect(typo.stdout.contains("comand") && typo.stdout.hasSuffix(" 400"))
        let broken = try fixture.curl(["-w", " %{http_code}", "-d", "{not json", "\(fixture.base)/v1/jobs"])
        #expect(broken.stdout.hasSuffix(" 400"))
        let neither = try fixture.curl(["-d", #"{"spec":{}}"#, "\(fixture.base)/v1/jobs"])
        #expect(
            neither.stdout
                == "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"spec: expected exactly one of command and argv\"}")
        let wrongType = try fixture.curl([
            "-w", " %{http_code}", "-H", "Content-Type: text/plain", "-d", "{}", "\(fixture.base)/v1/jobs",
        ])
        #expect(wrongType.stdout.contains("expected Content-Type application/json, found text/plain"))
        let unknownQuery = try fixture.curl(["-w", " %{http_code}", "\(fixture.base)/v1/jobs?stat=RUNNING"])
        #expect(
            unknownQuery.stdout.contains("unknown query parameter 'stat'")
                && unknownQuery.stdout.hasSuffix(" 400"))
        let method = try fixture.curl(["-i", "-X", "DELETE", "\(fixture.base)/v1/nodes"])
        #expect(method.stdout.hasPrefix("HTTP/1.1 405") && method.stdout.contains("Allow: GET"))
        let unknown = try fixture.curl(["-w", " %{http_code}", "\(fixture.base)/v2/anything"])
        #expect(unknown.stdout == "{\"code\":\"NOT_FOUND\",\"message\":\"no route for /v2/anything\"} 404")
        try await fixture.stop()
    }

    @Test func logsAndEventsStreamAsServerSentEvents() async throws {
        let fixture = try await WireFixture()
        _ = try fixture.curl(["-d", #"{"spec":{"argv":["true"]}}"#, "\(fixture.base)/v1/jobs"])
        let logs = try fixture.curl(["-N", "\(fixture.base)/v1/jobs/job-1/logs"])
        let events = logs.stdout.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.count == 3)
        #expect(
            events.first
                == "event: log\ndata: {\"jobId\":\"job-1\",\"attempt\":1,\"stream\":\"LOG_STREAM_STDOUT\",\"data\":\"b25lCg==\"}"
        )
        let missing = try fixture.curl(["-w", " %{http_code}", "\(fixture.base)/v1/jobs/nope/logs"])
        #expect(
            missing.stdout == "{\"code\":\"NOT_FOUND\",\"message\":\"job nope not found\"} 404",
            "an early error is plain JSON")

        // A follower that hangs up once it has seen what it waits for (at
        // most 10 s): the server's task sees cancellation.
        let follow = try readUntil(fixture, "/v1/jobs/job-1/logs?follow=true", "dGljawo=")
        #expect(follow.contains("dGljawo="), "ticks arrive while following")
        let watch = try readUntil(fixture, "/v1/events?after=41", "\n\n")
        let firstEvent = watch.components(separatedBy: "event: ").dropFirst().first ?? ""
        #expect(
            firstEvent.hasPrefix(
                "job\ndata: {\"jobId\":\"job-1\",\"state\":\"JOB_STATE_RUNNING\",\"sequence\":\"42\"}"),
            "the first event follows `after`: \(watch)")
        #expect(try await fixture.cancelledStreams(reaching: 2) == 2)
        // Found by attack: a follower leaving before the first message held
        // its connection and the call until one came (on a quiet job, never).
        let leaver = try fixture.python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"GET /v1/jobs/silent/logs?follow=true HTTP/1.1\\r\\nHost: x\\r\\n"
                      b"Authorization: Bearer \(WireFixture.clientToken)\\r\\n\\r\\n")
            time.sleep(0.3)
            s.close()
            """)
        #expect(leaver.status == 0, "\(leaver.stderr)")
        #expect(try await fixture.cancelledStreams(reaching: 3) == 3, "the silent follow was cancelled")
        // The same with a full pipeline queued behind it (reading had stopped, so the close went unseen).
        let piped = try fixture.python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"GET /v1/jobs/silent/logs?follow=true HTTP/1.1\\r\\nHost: x\\r\\n"
                      b"Authorization: Bearer \(WireFixture.clientToken)\\r\\n\\r\\n"
                      + b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 20)
            time.sleep(0.3)
            s.close()
            """)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try await fixture.cancelledStreams(reaching: 4) == 4, "the follow behind a full pipeline was cancelled")
        try await fixture.stop()
    }

    /// Reads `path`'s answer until it contains `marker` (after the head) or
    /// 10 s pass, then hangs up; returns the answer with chunk framing.
    private func readUntil(_ fixture: WireFixture, _ path: String, _ marker: String) throws -> String {
        try fixture.python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(10)
            s.sendall(b"GET \(path) HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer \(WireFixture.clientToken)\\r\\n\\r\\n")
            out, deadline = b"", time.monotonic() + 10
            while time.monotonic() < deadline and \(marker.debugDescription).encode() not in out.partition(b"\\r\\n\\r\\n")[2]:
                chunk = s.recv(65536)
                if not chunk: break
                out += chunk
            s.close()
            sys.stdout.write(out.decode())
            """
        ).stdout
    }

    /// The HTTP status and body for `path`.
    private func answer(_ fixture: WireFixture, _ path: String, seconds: Double = 10) throws -> (
        status: String, body: String
    ) {
        let result = try fixture.curl([
            "-g", "--max-time", String(seconds), "-w", "\n%{http_code}", fixture.base + path,
        ])
        let status = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return (status, String(result.stdout.dropLast(status.count + 1)))
    }

    @Test func everyQueryParameterOfEveryRouteFollowsItsFieldType() async throws {
        let fixture = try await WireFixture()
        _ = try fixture.curl(["-d", #"{"spec":{"argv":["true"]}}"#, "\(fixture.base)/v1/jobs"])
        // (path, expected status, text the body must contain)
        let cases: [(String, String, String)] = [
            // /v1/nodes takes no parameters.
            ("/v1/nodes?", "200", "n1"),
            ("/v1/nodes?id=7", "400", "unknown query parameter 'id'"),
            // /v1/jobs: state (enum), node_id and page_token (strings), page_size (uint32).
            ("/v1/jobs?node_id=7", "200", "job-1"),
            ("/v1/jobs?page_token=12", "200", "job-1"),
            ("/v1/jobs?node_id=&page_token=", "200", "job-1"),
            ("/v1/jobs?page_token=%31%32", "200", "job-1"),
            ("/v1/jobs?node_id=a+b%2Fc", "200", "job-1"),
            ("/v1/jobs?page_size=5", "200", "job-1"),
            ("/v1/jobs?page_size=%35", "200", "job-1"),
            ("/v1/jobs?page_size=", "400", "query parameter 'page_size': expected a number or name, found nothing"),
            ("/v1/jobs?page_size=-1", "400", "ListJobsRequest"),
            ("/v1/jobs?page_size=five", "400", "ListJobsRequest"),
            ("/v1/jobs?state=JOB_STATE_PENDING", "200", "job-1"),
            ("/v1/jobs?state=1", "200", "job-1"),
            ("/v1/jobs?state=5", "200", "{}"),
            ("/v1/jobs?state=", "400", "'state'"),
            ("/v1/jobs?page_token=1&page_token=2", "400", "query parameter 'page_token' given more than once"),
            ("/v1/jobs?node_id=%zz", "400", "malformed value of query parameter 'node_id'"),
            ("/v1/jobs?node_id=%4", "400", "malformed value of query parameter 'node_id'"),
            ("/v1/jobs?node_id=%FF", "400", "malformed value of query parameter 'node_id'"),
            ("/v1/jobs?%zz=1", "400", "malformed query parameter name"),
            // /v1/jobs/{id}/logs: job_id (string, the path wins), follow (bool), offset (uint64).
            ("/v1/jobs/job-1/logs?job_id=7", "200", "event: log"),
            ("/v1/jobs/job-1/logs?offset=7", "200", "event: log"),
            ("/v1/jobs/job-1/logs?offset=%37", "200", "event: log"),
            ("/v1/jobs/job-1/logs?follow=false", "200", "event: log"),
            ("/v1/jobs/job-1/logs?offset=", "400", "'offset'"),
            ("/v1/jobs/job-1/logs?follow=1", "400", "query parameter 'follow': expected true or false, found '1'"),
            ("/v1/jobs/job-1/logs?follow=", "400", "query parameter 'follow': expected true or false, found ''"),
            ("/v1/jobs/job-1/logs?offset=1&offset=1", "400", "given more than once"),
            ("/v1/jobs/job-1/logs?offset=%", "400", "malformed value of query parameter 'offset'"),
        ]
        for (path, status, text) in cases {
            let (got, body) = try answer(fixture, path)
            #expect(got == status && body.contains(text), "\(path): \(got) \(body)")
        }
        // /v1/events: job_id (string), after (uint64); a stream, so read until the text.
        let streams: [(String, String, String)] = [
            ("/v1/events?job_id=123", "200", "\"jobId\":\"123\""),
            ("/v1/events?job_id=%31%32%33", "200", "\"jobId\":\"123\""),
            ("/v1/events?job_id=", "200", "\"jobId\":\"job-1\""),
            ("/v1/events?after=41", "200", "\"sequence\":\"42\""),
            ("/v1/events?after=%34%31", "200", "\"sequence\":\"42\""),
            ("/v1/events?after=", "400", "'after'"),
            ("/v1/events?after=x", "400", "WatchEventsRequest"),
            ("/v1/events?job_id=1&job_id=1", "400", "given more than once"),
            ("/v1/events?job_id=%C3", "400", "malformed value of query parameter 'job_id'"),
        ]
        for (path, status, text) in streams {
            let reply = try readUntil(fixture, path, text)
            #expect(reply.hasPrefix("HTTP/1.1 \(status) "), "\(path): \(reply)")
            #expect(reply.components(separatedBy: "\r\n\r\n").dropFirst().joined().contains(text), "\(path): \(reply)")
        }
        #expect(try await fixture.cancelledStreams(reaching: 5) >= 5)
        try await fixture.stop()
    }

    @Test func anEventStreamThatEndsWithoutEventsIsStillAnEventStream() async throws {
        let fixture = try await WireFixture()
        let logs = try fixture.curl(["-i", "\(fixture.base)/v1/jobs/quiet/logs"])
        #expect(logs.stdout.hasPrefix("HTTP/1.1 200 OK"))
        #expect(logs.stdout.contains("Content-Type: text/event-stream"), "\(logs.stdout)")
        #expect(!logs.stdout.contains("data:"), "no events")
        try await fixture.stop()
    }
}
