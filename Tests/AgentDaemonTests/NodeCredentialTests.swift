import ClusterTestSupport
import Foundation
import OrchionAgentDaemon
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport
import Testing

/// Per-node credentials with the real server and real `orchion agent run`
/// processes on 127.0.0.1: joining, reconnecting past a changed join token,
/// removing a node (`orchion node remove`) and admitting it back.
@Suite(.serialized) struct NodeCredentialTests {
    /// Opens the agent protocol presenting `token` and registers node `id`:
    /// the server's first answer, or the error it refused with.
    private func register(_ id: String, token: String, cluster: AgentCluster) async throws -> Result<
        Orchion_V1_ServerMessage, RPCError
    > {
        let client = try await GRPCClient.connect(loop: cluster.thread.loop, to: cluster.server.address, token: token)
        let (writer, replies) = client.bidirectional(
            "/orchion.v1.AgentService/Connect", sending: Orchion_V1_AgentMessage.self,
            receiving: Orchion_V1_ServerMessage.self)
        let result: Result<Orchion_V1_ServerMessage, RPCError>
        do {
            try await writer.send(
                .with {
                    $0.register = .with {
                        $0.nodeID = id
                        $0.hostname = "host-\(id)"
                        $0.capabilities = .with {
                            $0.arch = "x86_64"
                            $0.cpuCores = 1
                            $0.memoryBytes = 1 << 30
                            $0.executors = ["exec"]
                        }
                        $0.capacity = .with {
                            $0.cpuMillis = 1000
                            $0.memoryBytes = 1 << 30
                        }
                    }
                })
            var messages = replies.makeAsyncIterator()
            guard let first = try await messages.next() else { throw HarnessError("no answer to Register") }
            result = .success(first)
        } catch let error as RPCError {
            result = .failure(error)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        return result
    }

    private func refusal(_ result: Result<Orchion_V1_ServerMessage, RPCError>) -> RPCError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    /// The credential file of `agent`, once it is there.
    private func credential(of agent: AgentUnderTest) async throws -> NodeCredential {
        let path = NodeCredentialFile.path(in: agent.stateDirectory.path)
        try await eventually("agent \(agent.nodeID)'s credential file", timeout: 20) {
            FileManager.default.fileExists(atPath: path)
        }
        return try #require(try NodeCredentialFile.read(path))
    }

    /// `orchion ARGUMENTS` against the cluster's server with the tests' client token.
    private func orchion(_ arguments: [String], _ cluster: AgentCluster) throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        environment["ORCHION_SERVER"] = "127.0.0.1:\(cluster.server.port)"
        environment["ORCHION_TOKEN"] = ServerProcess.clientToken
        return try runCommand([Paths.orchion] + arguments, environment: environment, timeout: 60)
    }

    @Test func aJoinedAgentsOwnCredentialIsKeptHashedUsedPastAWrongJoinTokenAndNotTakenByTheJoinToken()
        async throws
    {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("cred-a")
            let kept = try await credential(of: agent)
            let path = NodeCredentialFile.path(in: agent.stateDirectory.path)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(kept.nodeID == "cred-a" && kept.token.utf8.count == 64 && kept.token != ServerProcess.joinToken)

            // The server's SQLite file holds the credential's SHA-256, never the credential.
            let database = cluster.server.directory.appendingPathComponent("orchion.db").path
            let rows = try runCommand([
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    + "print(*('%s %s %d' % r for r in c.execute('SELECT node_id, digest, removed FROM node_credentials')))",
                database,
            ])
            #expect(rows.stdout == "cred-a \(TokenDigest.hex(kept.token)) 0\n", "\(rows.stderr)")
            for file in [database, database + "-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
                #expect(bytes.range(of: Data(kept.token.utf8)) == nil, "\(file) holds the credential")
            }
            #expect(!cluster.server.output.contains(kept.token) && !agent.output.contains(kept.token))

            // Restarted with a wrong join token, it reconnects with its credential (and keeps it).
            agent.kill()
            let wrong = cluster.server.directory.appendingPathComponent("wrong.token")
            try Data("wrong-join-token-0123456789abcdef\n".utf8).write(to: wrong)
            chmod(wrong.path, 0o600)
            try agent.launch(joinTokenFile: wrong)
            try agent.waitForLog("connected to", count: 2)
            try await cluster.waitReady("cred-a")
            #expect(try NodeCredentialFile.read(path) == kept)
            #expect(cluster.server.output.components(separatedBy: "issued it a new node credential").count == 2)

            // Its credential registers only its own node.
            let other = refusal(try await register("cred-other", token: kept.token, cluster: cluster))
            #expect(other?.code == .permissionDenied)
            #expect(other?.message.contains("belongs to node cred-a") == true)
            #expect(try await cluster.control.nodes().map(\.id) == ["cred-a"])
            // Nor does it reach the control API.
            let asClient = try await ControlClient.connect(
                cluster.server.address, loop: cluster.thread.loop, token: kept.token)
            let denied = await #expect(throws: RPCError.self) { _ = try await asClient.nodes() }
            #expect(denied?.code == .permissionDenied)
            await asClient.client.close()

            // The join token cannot take a node's place once it holds a credential.
            agent.kill()
            try await eventually("cred-a's stream closed") {
                try await cluster.control.node("cred-a").state != .ready
            }
            let taken = refusal(try await register("cred-a", token: ServerProcess.joinToken, cluster: cluster))
            #expect(taken?.code == .permissionDenied)
            #expect(taken?.message.contains("orchion node remove cred-a") == true, "\(taken?.message ?? "")")
            let again = try await register("cred-a", token: kept.token, cluster: cluster).get()
            #expect(again.registered.nodeID == "cred-a" && again.registered.nodeCredential.isEmpty)
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aJoinScopedTokenPrintsItsJoinCommandEnrolsNewNodesOnlyAndIsRevocable() async throws {
        let cluster = try await AgentCluster()
        do {
            let existing = try await cluster.agent("joined-before")
            _ = try await credential(of: existing)
            let made = try orchion(["token", "create", "pi-5", "--join", "--ttl", "1h"], cluster)
            #expect(made.status == 0, "\(made.stderr)")
            // stdout is the command to run on the new machine, secret included.
            let command = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(command.hasSuffix("orchion agent run --server 127.0.0.1:\(cluster.server.port)"), "\(command)")
            let secret = try #require(
                command.split(separator: " ").first?.split(separator: "=", maxSplits: 1).last.map(String.init))
            #expect(
                command.hasPrefix("ORCHION_JOIN_TOKEN=") && secret.utf8.count >= 32 && secret != ServerProcess.joinToken
            )
            let listed = try orchion(["token", "list", "-o", "json"], cluster)
            #expect(listed.stdout.contains("\"pi-5\"") && listed.stdout.contains("\"join\""), "\(listed.stdout)")

            // It enrols a new node, which gets its own credential...
            let joined = try await register("pi-5", token: secret, cluster: cluster).get()
            #expect(joined.registered.nodeID == "pi-5" && !joined.registered.nodeCredential.isEmpty)
            // ...but takes no existing node's place, and calls no control method.
            let taken = refusal(try await register("joined-before", token: secret, cluster: cluster))
            #expect(taken?.code == .permissionDenied)
            let asClient = try await ControlClient.connect(
                cluster.server.address, loop: cluster.thread.loop, token: secret)
            let denied = await #expect(throws: RPCError.self) { _ = try await asClient.nodes() }
            #expect(denied?.code == .permissionDenied)
            await asClient.client.close()

            // Revoked: no more nodes with it; the node it enrolled keeps its credential.
            let revoked = try orchion(["token", "revoke", "pi-5"], cluster)
            #expect(revoked.status == 0, "\(revoked.stderr)")
            #expect(refusal(try await register("pi-6", token: secret, cluster: cluster))?.code == .unauthenticated)
            let back = try await register("pi-5", token: joined.registered.nodeCredential, cluster: cluster).get()
            #expect(back.registered.nodeID == "pi-5")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aRemovedNodeIsDisconnectedItsJobRetriedElsewhereAndKeptOutUntilAdmitted() async throws {
        let cluster = try await AgentCluster()
        do {
            let agents = [try await cluster.agent("rm-a"), try await cluster.agent("rm-b")]
            for agent in agents { _ = try await credential(of: agent) }
            // One attempt allowed: an attempt lost to the removal does not count against it.
            let id = try await cluster.control.submit(shellJob(cluster.jobs.record + "sleep 4; echo finished")).id
            let running = try await cluster.waitJob(id, "running") { $0.state == .running }
            let victimID = try #require(running.attempts.first?.nodeID)
            let victim = try #require(agents.first { $0.nodeID == victimID })
            let survivor = try #require(agents.first { $0.nodeID != victimID })
            try await eventually("the job's pid recorded") { !cluster.jobs.pids.isEmpty }
            let old = try await credential(of: victim)

            let removed = try orchion(["node", "remove", victimID], cluster)
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(removed.stdout.contains("node \(victimID) removed: credential revoked, disconnected"))

            // Its agent learns it on reconnecting, stops its job and exits with the documented status.
            #expect(victim.waitForExit(timeout: 30), "the removed node's agent still runs:\n\(victim.output)")
            #expect(victim.process.terminationStatus == 77)
            let line = victim.output.split(separator: "\n").first { $0.contains("was removed from the cluster") }
            #expect(
                line?.contains("node \(victimID) was removed") == true && line?.contains("orchion node admit") == true)
            let pid = try #require(cluster.jobs.pids.first)
            try await eventually("the removed node's job process gone") { kill(pid, 0) != 0 }
            let job = try await cluster.waitJob(id, "retried on the other node and succeeded", timeout: 60) {
                $0.state == .succeeded
            }
            #expect(job.attempts.map(\.state) == [.lost, .succeeded])
            #expect(job.attempts.last?.nodeID == survivor.nodeID)
            #expect(try await cluster.control.nodes().map(\.id) == [survivor.nodeID])

            // Kept out, across a server restart too: its old credential, and a new join with the join token.
            try cluster.server.crashAndRestart()
            try await cluster.reconnectControl()
            let reconnect = refusal(try await register(victimID, token: old.token, cluster: cluster))
            #expect(reconnect?.code == .unauthenticated)
            #expect(reconnect?.message == Authenticator.removedMessage(victimID))
            let rejoin = refusal(try await register(victimID, token: ServerProcess.joinToken, cluster: cluster))
            #expect(rejoin?.code == .permissionDenied)
            #expect(rejoin?.message.contains("orchion node admit \(victimID)") == true)
            // The other node reconnects to the restarted server with its credential.
            try await cluster.waitReady(survivor.nodeID)
            #expect(!cluster.server.output.contains("issued it a new node credential"), "it joined anew")
            // The REST face says so too.
            let again = try runCommand([
                "curl", "-sS", "-X", "POST", "-H", "Authorization: Bearer \(ServerProcess.clientToken)",
                "-w", "\n%{http_code}", "http://127.0.0.1:\(cluster.server.port)/v1/nodes/\(victimID):remove",
            ])
            #expect(again.stdout.contains("already removed") && again.stdout.hasSuffix("\n400"), "\(again.stdout)")

            // The other node works on.
            let next = try await cluster.control.submit(shellJob("echo still-here")).id
            let done = try await cluster.waitJob(next, "succeeded") { $0.state == .succeeded }
            #expect(done.attempts.first?.nodeID == survivor.nodeID)

            // Admitted, the same agent (its old credential still on disk) joins again with the join token.
            let admitted = try orchion(["node", "admit", victimID], cluster)
            #expect(admitted.status == 0 && admitted.stdout.contains("node \(victimID) admitted"), "\(admitted.stderr)")
            try victim.launch()
            try await cluster.waitReady(victimID)
            try await eventually("a new credential kept", timeout: 20) {
                (try? NodeCredentialFile.read(NodeCredentialFile.path(in: victim.stateDirectory.path)))
                    .map { $0 != old } ?? false
            }
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }
}
