import ClusterTestSupport
import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import Testing

/// The RPCs the `orchion` client needs beyond the first API: batch submit,
/// undrain, client token management.
@Suite(.serialized) struct ClientAPITests {
    @Test func submitJobsAcceptsABatchWholeOrRefusesItNamingTheBadJob() async throws {
        let cluster = try await Cluster()
        let batch = Orchion_V1_SubmitJobsRequest.with {
            $0.jobs = (0..<200).map { index in
                .with {
                    $0.spec = spec("echo \(index)")
                    if index == 7 { $0.requestID = "batch-seven" }
                }
            }
        }
        let reply: Orchion_V1_SubmitJobsResponse = try await cluster.control.client.unary(
            "/orchion.v1.ControlService/SubmitJobs", batch, timeoutMillis: 10_000)
        #expect(reply.jobIds.count == 200)
        #expect(Set(reply.jobIds).count == 200)
        let listed = try await cluster.control.jobs(pageSize: 1000)
        #expect(listed.jobs.map(\.id) == reply.jobIds)
        #expect(try await cluster.control.job(reply.jobIds[199]).spec.command == "echo 199")

        // One bad spec (an unknown strategy) refuses the whole batch.
        var bad = batch
        for index in bad.jobs.indices { bad.jobs[index].requestID = "" }
        bad.jobs[3].spec.strategy = "no-such-strategy"
        await #expect {
            let _: Orchion_V1_SubmitJobsResponse = try await cluster.control.client.unary(
                "/orchion.v1.ControlService/SubmitJobs", bad, timeoutMillis: 10_000)
        } throws: { error in
            guard let error = error as? RPCError else { return false }
            return error.code == .invalidArgument && error.message.hasPrefix("jobs[3]: unknown strategy")
        }
        #expect(try await cluster.control.jobs(pageSize: 1000).jobs.count == 200)

        // A request id seen before answers the first job's id, over REST too.
        let again = try cluster.restPost(
            "/v1/jobs:batch",
            json: #"{"jobs":[{"spec":{"command":"true"},"requestId":"batch-seven"},{"spec":{"command":"true"}}]}"#)
        #expect(again.status == 200, "\(again.body)")
        let ids = try Orchion_V1_SubmitJobsResponse(jsonString: again.body).jobIds
        #expect(ids.count == 2 && ids[0] == reply.jobIds[7] && !reply.jobIds.contains(ids[1]))
        await cluster.close()
    }

    @Test func undrainReturnsADrainedNodeToServiceAndKeepsACordon() async throws {
        let cluster = try await Cluster()
        try await cluster.agent("n1")
        #expect(try await cluster.control.drain("n1").state == .draining)
        let job = try await cluster.control.submit(spec())
        let undrain: (String) async throws -> Orchion_V1_Node = { id in
            try await cluster.control.client.unary(
                "/orchion.v1.ControlService/UndrainNode", Orchion_V1_UndrainNodeRequest.with { $0.id = id },
                timeoutMillis: 10_000)
        }
        #expect(try await cluster.control.job(job.id).state == .pending)
        let node = try await undrain("n1")
        #expect(node.state == .ready && !node.cordoned)
        try await eventually("the job placed on n1") {
            try await cluster.control.job(job.id).attempts.last?.nodeID == "n1"
        }
        _ = try await cluster.control.cordon("n1")
        let (status, body) = try cluster.restPost("/v1/nodes/n1:undrain", json: "")
        #expect(status == 200, "\(body)")
        #expect(try await cluster.control.node("n1").cordoned)
        await #expect {
            _ = try await undrain("nope")
        } throws: { ($0 as? RPCError)?.code == .notFound }
        await cluster.close()
    }

    @Test func createdTokensWorkAtOnceListWithoutSecretsAndRevokedOnesAreRefused() async throws {
        let cluster = try await Cluster()
        let client = cluster.control.client
        let created: Orchion_V1_CreatedToken = try await client.unary(
            "/orchion.v1.ControlService/CreateToken", Orchion_V1_CreateTokenRequest.with { $0.name = "laptop" },
            timeoutMillis: 10_000)
        #expect(created.secret.count == 64)
        #expect(created.info.name == "laptop" && created.secret.hasPrefix(created.info.prefix))
        #expect(created.info.hasCreatedAt)

        // The new token works for a new connection at once.
        let laptop = try await GRPCClient.connect(
            loop: cluster.thread.loop, to: cluster.server.address, token: created.secret)
        let nodes: Orchion_V1_ListNodesResponse = try await laptop.unary(
            "/orchion.v1.ControlService/ListNodes", Orchion_V1_ListNodesRequest(), timeoutMillis: 10_000)
        #expect(nodes.nodes.isEmpty)

        // Listed by name and prefix, never the secret; the file stays owner-only.
        let listing = try cluster.restGet("/v1/tokens")
        #expect(listing.status == 200)
        #expect(listing.body.contains("laptop") && !listing.body.contains(created.secret))
        #expect(!listing.body.contains(ServerProcess.clientToken))
        let file = cluster.server.directory.appendingPathComponent("client.tokens").path
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        // Kept hashed, with its scope (read: the default): never the secret.
        let kept = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!kept.contains(created.secret))
        #expect(kept.contains("laptop sha256:\(TokenDigest.hex(created.secret))  # scope=read created="))

        // A duplicate name and a bad name are refused.
        await #expect {
            let _: Orchion_V1_CreatedToken = try await client.unary(
                "/orchion.v1.ControlService/CreateToken", Orchion_V1_CreateTokenRequest.with { $0.name = "laptop" },
                timeoutMillis: 10_000)
        } throws: { ($0 as? RPCError)?.code == .alreadyExists }
        await #expect {
            let _: Orchion_V1_CreatedToken = try await client.unary(
                "/orchion.v1.ControlService/CreateToken", Orchion_V1_CreateTokenRequest.with { $0.name = "a b" },
                timeoutMillis: 10_000)
        } throws: { ($0 as? RPCError)?.code == .invalidArgument }

        // Revoked: refused from the next call on, on a connection already open.
        let (status, body) = try cluster.restPost("/v1/tokens/laptop:revoke", json: "")
        #expect(status == 200, "\(body)")
        await #expect {
            let _: Orchion_V1_ListNodesResponse = try await laptop.unary(
                "/orchion.v1.ControlService/ListNodes", Orchion_V1_ListNodesRequest(), timeoutMillis: 10_000)
        } throws: { ($0 as? RPCError)?.code == .unauthenticated }
        #expect(try !String(contentsOfFile: file, encoding: .utf8).contains(created.secret))
        await laptop.close()

        // The last token cannot be revoked.
        await #expect {
            let _: Orchion_V1_TokenInfo = try await client.unary(
                "/orchion.v1.ControlService/RevokeToken", Orchion_V1_RevokeTokenRequest.with { $0.name = "tests" },
                timeoutMillis: 10_000)
        } throws: { ($0 as? RPCError)?.code == .failedPrecondition }

        // The rewritten file is one the server starts from.
        try cluster.server.crashAndRestart()
        let control = try await ControlClient.connect(cluster.server.address, loop: cluster.thread.loop)
        #expect(try await control.nodes().isEmpty)
        await control.client.close()
        await cluster.close()
    }
}
