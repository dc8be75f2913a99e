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
    private static let python = Paths.root.appendingPathComponent(".venv/bin/python").path

    /// Python stubs generated from the .proto files once per test process.
    private static let stubs: Result<String, any Error> = Result {
        let dir = try Paths.temporaryDirectory("orchion-stubs")
        let generated = try runCommand(
            [
                python, "-m", "grpc_tools.protoc", "-I", Paths.root.appendingPathComponent("sdk/proto").path,
                "--python_out=\(dir.path)", "--grpc_python_out=\(dir.path)",
            ]
                + ["agent", "cluster", "control", "jobs", "plugins"].map {
                    Paths.root.appendingPathComponent("sdk/proto/orchion/v1/\($0).proto").path
                })
        guard generated.status == 0 else { throw HarnessError("grpc_tools.protoc: \(generated.stderr)") }
        return dir.path
    }

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
}
