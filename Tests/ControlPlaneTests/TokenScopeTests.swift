import ClusterTestSupport
import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport
import Testing

/// Client token scopes, expiry, revocation and hashing at rest, with real
/// clients (curl for REST, Python's grpcio for gRPC) against the real
/// server binary; and the slow-down of repeated refused tokens on both faces.
@Suite(.serialized) struct TokenScopeTests {
    private static let python = PythonGRPC.python
    private static let stubs = PythonGRPC.stubs

    /// Creates a token over gRPC with the tests' (legacy, admin) token.
    private func create(_ cluster: Cluster, _ name: String, _ scope: String, ttl: UInt64 = 0) async throws
        -> Orchion_V1_CreatedToken
    {
        try await cluster.control.client.unary(
            "/orchion.v1.ControlService/CreateToken",
            Orchion_V1_CreateTokenRequest.with {
                $0.name = name
                $0.scope = scope
                $0.ttlSeconds = ttl
            }, timeoutMillis: 10_000)
    }

    /// Revokes the token named `name` over gRPC with the tests' admin token.
    private func revoke(_ name: String, _ cluster: Cluster) async throws -> Orchion_V1_TokenInfo {
        try await cluster.control.client.unary(
            "/orchion.v1.ControlService/RevokeToken", Orchion_V1_RevokeTokenRequest.with { $0.name = name },
            timeoutMillis: 10_000)
    }

    /// How an event stream ends: "ended without an error", or the RPC error's code and message.
    private func ending(_ events: sending AsyncThrowingStream<Orchion_V1_JobEvent, any Error>.AsyncIterator) -> Task<
        String, any Error
    > {
        Task {
            var events = events
            do {
                while try await events.next() != nil {}
                return "ended without an error"
            } catch let error as RPCError {
                return "\(error.code): \(error.message)"
            }
        }
    }

    /// curl with `token`: the HTTP status and body.
    private func curl(_ cluster: Cluster, _ method: String, _ path: String, token: String, body: String? = nil)
        throws -> (status: Int, body: String)
    {
        var arguments = [
            "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "-X", method, "-H",
            "Authorization: Bearer \(token)",
        ]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try runCommand(arguments + ["http://127.0.0.1:\(cluster.server.port)\(path)"], timeout: 20)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    private func message(_ body: String) -> String {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return object?["message"] as? String ?? body
    }

    @Test func scopesExpiryAndRevocationHoldOnBothFacesAndTheFileKeepsNoSecret() async throws {
        let cluster = try await Cluster()
        try await cluster.agent("n1")
        // The tests' token is a line of an older version (a secret in clear):
        // it still works, as admin, and the server rewrote it hashed at start.
        let file = cluster.server.directory.appendingPathComponent("client.tokens").path
        let atStart = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!atStart.contains(ServerProcess.clientToken))
        #expect(atStart.contains("tests sha256:" + TokenDigest.hex(ServerProcess.clientToken) + "  # scope=admin"))

        let read = try await create(cluster, "viewer", "")
        #expect(read.info.scope == "read", "read is the default scope")
        let submit = try await create(cluster, "ci", "submit")
        let expiring = try await create(cluster, "brief", "read", ttl: 1)
        let revoked = try await create(cluster, "old", "admin")
        #expect(expiring.info.hasExpiresAt && !read.info.hasExpiresAt)
        let adminJob = try await cluster.control.submit(.with { $0.command = "sleep 60" })
        #expect(adminJob.submittedBy == "tests")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for secret in [read.secret, submit.secret, expiring.secret, revoked.secret] {
            #expect(!text.contains(secret), "the file holds no secret after create")
            #expect(text.contains("sha256:" + TokenDigest.hex(secret)))
        }
        #expect(text.contains("ci sha256:" + TokenDigest.hex(submit.secret) + "  # scope=submit created="))
        #expect(try curl(cluster, "POST", "/v1/tokens/old:revoke", token: ServerProcess.clientToken).status == 200)

        // REST.
        let readSubmits = try curl(
            cluster, "POST", "/v1/jobs", token: read.secret, body: #"{"spec":{"command":"true"}}"#)
        #expect(readSubmits.status == 403)
        #expect(message(readSubmits.body) == "SubmitJob needs scope submit; token 'viewer' has scope read")
        #expect(!readSubmits.body.contains(read.secret))
        #expect(try curl(cluster, "GET", "/v1/jobs", token: read.secret).status == 200)
        let drain = try curl(cluster, "POST", "/v1/nodes/n1:drain", token: submit.secret)
        #expect(
            drain.status == 403 && message(drain.body) == "DrainNode needs scope admin; token 'ci' has scope submit")
        #expect(try curl(cluster, "POST", "/v1/tokens", token: submit.secret, body: #"{"name":"x"}"#).status == 403)
        let other = try curl(cluster, "POST", "/v1/jobs/\(adminJob.id):cancel", token: submit.secret)
        #expect(other.status == 403, "\(other.body)")
        let own = try curl(cluster, "POST", "/v1/jobs", token: submit.secret, body: #"{"spec":{"command":"sleep 60"}}"#)
        let ownJob = try Orchion_V1_Job(jsonString: own.body)
        #expect(ownJob.submittedBy == "ci")
        #expect(try curl(cluster, "POST", "/v1/jobs/\(ownJob.id):cancel", token: submit.secret).status == 200)
        let gone = try curl(cluster, "GET", "/v1/nodes", token: revoked.secret)
        #expect(gone.status == 401 && message(gone.body) == "invalid bearer token")
        try await eventually("the 1 s token expires", timeout: 10) {
            try curl(cluster, "GET", "/v1/nodes", token: expiring.secret).status == 401
        }
        let expired = try curl(cluster, "GET", "/v1/nodes", token: expiring.secret)
        #expect(message(expired.body).hasPrefix("token expired"))
        let listed = try curl(cluster, "GET", "/v1/tokens", token: ServerProcess.clientToken)
        let tokens = try Orchion_V1_ListTokensResponse(jsonString: listed.body).tokens
        #expect(tokens.map(\.name) == ["tests", "viewer", "ci", "brief"])
        #expect(tokens.map(\.scope) == ["admin", "read", "submit", "read"])
        #expect(tokens.map(\.expired) == [false, false, false, true])

        // gRPC, with grpcio.
        let result = try runCommand(
            [
                Self.python, Paths.root.appendingPathComponent("Tests/Fixtures/grpc_client.py").path,
                try Self.stubs.get(), String(cluster.server.port), read.secret, ServerProcess.joinToken, "scopes",
                submit.secret, adminJob.id, expiring.secret, revoked.secret,
            ], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let grpc = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        func code(_ key: String) -> String? { (grpc[key] as? [String: Any])?["code"] as? String }
        func details(_ key: String) -> String? { (grpc[key] as? [String: Any])?["details"] as? String }
        #expect(grpc["read_lists"] as? Int == 2)
        #expect(code("read_submits") == "PERMISSION_DENIED")
        #expect(details("read_submits") == "SubmitJob needs scope submit; token 'viewer' has scope read")
        #expect(code("read_scheduler") == "PERMISSION_DENIED")
        #expect(grpc["own_submitted_by"] as? String == "ci")
        #expect(code("submit_drains") == "PERMISSION_DENIED" && code("submit_creates_token") == "PERMISSION_DENIED")
        #expect(code("submit_lists_tokens") == "PERMISSION_DENIED")
        #expect(code("submit_cancels_other") == "PERMISSION_DENIED")
        #expect(grpc.keys.contains("submit_cancels_own") && grpc["submit_cancels_own"] is NSNull, "allowed")
        #expect(code("expired") == "UNAUTHENTICATED" && details("expired")?.hasPrefix("token expired") == true)
        #expect(code("revoked") == "UNAUTHENTICATED" && details("revoked") == "invalid bearer token")
        #expect(try await cluster.control.job(adminJob.id).state != .cancelled, "the admin's job still runs")

        // A restart reads the hashed file: the tokens keep their scopes.
        try cluster.server.crashAndRestart()
        try await eventually("the server is back") {
            try curl(cluster, "GET", "/v1/jobs", token: read.secret).status == 200
        }
        #expect(try curl(cluster, "POST", "/v1/nodes/n1:cordon", token: read.secret).status == 403)
        #expect(
            try curl(cluster, "GET", "/v1/jobs/\(ownJob.id)", token: read.secret).body.contains(#""submittedBy":"ci""#))
        await cluster.close()
    }
    /// The script: 8 refused tokens over REST one after another, then, with
    /// the peer slowed, a refused call on each face alongside valid calls
    /// (and one without a token) sent after it.
    private static let slowDownScript = """
        import json, sys, threading, time, urllib.error, urllib.request
        sys.path.insert(0, sys.argv[1])
        import grpc
        from orchion.v1 import control_pb2, control_pb2_grpc
        port, good = sys.argv[2], sys.argv[3]
        wrong = "wrong-token-0123456789"

        def rest(token):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/nodes", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    return reply.status
            except urllib.error.HTTPError as error:
                return error.code

        control = control_pb2_grpc.ControlServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

        def call(token):
            try:
                control.ListNodes(control_pb2.ListNodesRequest(), metadata=[("authorization", f"Bearer {token}")], timeout=10)
                return "OK"
            except grpc.RpcError as failure:
                return failure.code().name

        result = {"rest": []}
        for _ in range(8):
            start = time.monotonic()
            status = rest(wrong)
            result["rest"].append([status, time.monotonic() - start])
        done = []
        lock = threading.Lock()

        def run(label, body):
            start = time.monotonic()
            outcome = body()
            with lock:
                done.append([label, outcome, time.monotonic() - start])

        held = [threading.Thread(target=run, args=("rest-wrong", lambda: rest(wrong))),
                threading.Thread(target=run, args=("grpc-wrong", lambda: call(wrong)))]
        for thread in held:
            thread.start()
        run("rest-valid", lambda: rest(good))
        run("grpc-valid", lambda: call(good))
        run("rest-missing", lambda: rest(None))
        for thread in held:
            thread.join(timeout=20)
        result["done"] = done
        print(json.dumps(result), flush=True)
        """

    /// Found by attack: request ids were shared by every token, so one
    /// token could take another's idempotency key first and hand it its job.
    @Test func aRequestIDIsIdempotentPerTokenNotAcrossTokens() async throws {
        let cluster = try await Cluster()
        var clients: [ControlClient] = []
        var secrets: [String] = []
        for name in ["alice", "mallory"] {
            let token = try await create(cluster, name, "submit")
            secrets.append(token.secret)
            clients.append(
                try await ControlClient.connect(cluster.server.address, loop: cluster.thread.loop, token: token.secret))
        }
        let planted = try await clients[1].submit(spec("echo planted"), requestID: "ci-build-7")
        let first = try await clients[0].submit(spec("echo legit"), requestID: "ci-build-7")
        let again = try await clients[0].submit(spec("echo legit"), requestID: "ci-build-7")
        #expect(first.id != planted.id && first.submittedBy == "alice" && first.spec.command == "echo legit")
        #expect(again.id == first.id, "the same token's retry is still answered with its first job")
        // And after a restart, from the store.
        for client in clients { await client.client.close() }
        try cluster.server.crashAndRestart()
        clients = []
        for secret in secrets {
            clients.append(
                try await ControlClient.connect(cluster.server.address, loop: cluster.thread.loop, token: secret))
        }
        #expect(try await clients[0].submit(spec("echo legit"), requestID: "ci-build-7").id == first.id)
        #expect(try await clients[1].submit(spec("echo planted"), requestID: "ci-build-7").id == planted.id)
        for client in clients { await client.client.close() }
        await cluster.close()
    }

    /// Found by attack: a request authenticated when its head arrived ran
    /// later (queued behind a follow on its connection), after its token
    /// was revoked, and created an admin token for the thief.
    @Test func aRequestQueuedBehindAStreamIsRefusedOnceItsTokenIsRevoked() async throws {
        let cluster = try await Cluster()
        let thief = try await create(cluster, "thief", "admin")
        let agent = try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec("sleep 1000")).id
        try await cluster.wait(job, .running)  // and prints nothing: a follow of it waits
        let go = cluster.server.directory.appendingPathComponent("go").path
        let port = cluster.server.port
        let script = """
            import os, socket, sys, time
            s = socket.create_connection(("127.0.0.1", \(port))); s.settimeout(20)
            auth = b"Authorization: Bearer \(thief.secret)\\r\\n"
            body = b'{"name":"backdoor","scope":"admin"}'
            s.sendall(b"GET /v1/jobs/\(job)/logs?follow=true HTTP/1.1\\r\\nHost: x\\r\\n" + auth + b"\\r\\n"
                      + b"POST /v1/tokens HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n" + auth
                      + b"Content-Type: application/json\\r\\nContent-Length: " + str(len(body)).encode()
                      + b"\\r\\n\\r\\n" + body)
            for _ in range(400):
                if os.path.exists(sys.argv[1]): break
                time.sleep(0.05)
            out = b""
            try:
                while True:
                    c = s.recv(65536)
                    if not c: break
                    out += c
            except socket.timeout:
                pass
            print(out.decode(errors="replace"))
            """
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", "-c", script, go]
        let output = Pipe()
        client.standardOutput = output
        try client.run()
        defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) } }
        // The follow is open (the server reads the pipelined request behind it and holds it).
        try await eventually("the follow is open") {
            let metrics = try runCommand(["curl", "-sS", "http://127.0.0.1:\(port)/metrics"]).stdout
            return metrics.contains("orchion_log_followers 1")
        }
        _ = try await revoke("thief", cluster)
        try await agent.report(job, attempt: 1, .succeeded)  // ends the follow: the queued request runs now
        FileManager.default.createFile(atPath: go, contents: nil)
        try await eventually("the client is done", timeout: 30) { !client.isRunning }
        let answers = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(answers.contains("HTTP/1.1 401"), "\(answers)")
        #expect(!answers.contains("backdoor"), "\(answers)")
        let tokens: Orchion_V1_ListTokensResponse = try await cluster.control.client.unary(
            "/orchion.v1.ControlService/ListTokens", Orchion_V1_ListTokensRequest(), timeoutMillis: 10_000)
        #expect(!tokens.tokens.map(\.name).contains("backdoor"))
        await cluster.close()
    }

    @Test func revokingATokenEndsAnIdleWatchWithinAFewSeconds() async throws {
        let cluster = try await Cluster()
        let watcher = try await create(cluster, "idle", "read")
        let reader = try await ControlClient.connect(
            cluster.server.address, loop: cluster.thread.loop, token: watcher.secret)
        // One event shows the watch is open; then nothing comes (no agent: the job waits).
        let job = try await cluster.control.submit(spec()).id
        var events = reader.events().makeAsyncIterator()
        #expect(try await events.next()?.jobID == job)
        let ended = ending(events)
        _ = try await revoke("idle", cluster)
        let closer = Task {
            // Bounded: still open after 10 s, the client closes it and the expectation below fails.
            try? await Task.sleep(for: .seconds(10))
            if !Task.isCancelled { await reader.client.close() }
        }
        let outcome = try await ended.value
        closer.cancel()
        #expect(outcome.hasPrefix("unauthenticated") && outcome.contains("revoked"), "\(outcome)")
        await reader.client.close()
        await cluster.close()
    }

    @Test func revokingATokenEndsABusyWatchItOpened() async throws {
        let cluster = try await Cluster()
        let watcher = try await create(cluster, "watcher", "read")
        let reader = try await ControlClient.connect(
            cluster.server.address, loop: cluster.thread.loop, token: watcher.secret)
        let first = try await cluster.control.submit(spec()).id
        var events = reader.events().makeAsyncIterator()
        #expect(try await events.next()?.jobID == first)
        let revoked = try await revoke("watcher", cluster)
        #expect(revoked.name == "watcher")
        // Events keep coming (a job a second); the stream ends within a few seconds of the revocation.
        let ended = ending(events)
        let feeder = Task {
            for _ in 0..<40 where !Task.isCancelled {
                _ = try? await cluster.control.submit(spec())
                try? await Task.sleep(for: .milliseconds(250))
            }
            // Bounded: a stream still open after 10 s is closed here, and the expectation below fails.
            if !Task.isCancelled { await reader.client.close() }
        }
        let outcome = try await ended.value
        feeder.cancel()
        #expect(outcome.hasPrefix("unauthenticated") && outcome.contains("revoked"), "\(outcome)")
        await reader.client.close()
        await cluster.close()
    }

    @Test func aPeerThatKeepsPresentingWrongTokensIsSlowedOnBothFacesAndValidCallsAreNot() async throws {
        let cluster = try await Cluster()
        let result = try runCommand(
            [
                Self.python, "-c", Self.slowDownScript, try Self.stubs.get(), String(cluster.server.port),
                ServerProcess.clientToken,
            ], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rest = try #require(json["rest"] as? [[Double]])
        #expect(rest.map { Int($0[0]) } == Array(repeating: 401, count: 8))
        // The 6th, 7th and 8th failures: held at least 250 ms, 500 ms, 1 s (less 20 ms of clock slack).
        #expect(rest[5][1] >= 0.23 && rest[6][1] >= 0.48 && rest[7][1] >= 0.98, "\(rest)")
        let done = try #require(json["done"] as? [[Any]])
        let order = done.compactMap { $0.first as? String }
        let outcome = Dictionary(done.map { ($0[0] as? String ?? "", "\($0[1])") }, uniquingKeysWith: { $1 })
        let took = Dictionary(done.map { ($0[0] as? String ?? "", $0[2] as? Double ?? 0) }, uniquingKeysWith: { $1 })
        #expect(
            outcome == [
                "rest-wrong": "401", "grpc-wrong": "UNAUTHENTICATED", "rest-valid": "200",
                "grpc-valid": "OK", "rest-missing": "401",
            ])
        // Held at the cap (2 s) on both faces; the valid calls and the one
        // without a token, sent after them, were answered first.
        #expect((took["rest-wrong"] ?? 0) >= 1.98 && (took["grpc-wrong"] ?? 0) >= 1.98, "\(took)")
        #expect(order.count == 5 && Set(order.prefix(3)) == ["rest-valid", "grpc-valid", "rest-missing"], "\(order)")
        await cluster.close()
    }
}
