import ClusterTestSupport
import Foundation
import OrchionProto
import OrchionWire
import TestSupport
import Testing

@Suite(.serialized) struct StrategyTests {
    @Test func theDefaultStrategyChangesAtRuntimeAndJobsFollowIt() async throws {
        let cluster = try await Cluster()
        for id in ["a", "b", "c"] { try await cluster.agent(id) }
        #expect(try await cluster.control.scheduler().defaultStrategy == "bin-packing")
        var packed: Set<String> = []
        for _ in 0..<3 {
            let job = try await cluster.control.submit(spec(cpu: 500))
            packed.insert(try await cluster.wait(job.id, .running).attempts.last?.nodeID ?? "")
        }
        #expect(packed.count == 1, "bin-packing filled one node: \(packed)")
        #expect(try await cluster.control.setDefaultStrategy("spread").defaultStrategy == "spread")
        var spread: Set<String> = []
        for _ in 0..<2 {
            let job = try await cluster.control.submit(spec(cpu: 500))
            let running = try await cluster.wait(job.id, .running)
            #expect(running.attempts.last?.strategy == "spread")
            spread.insert(running.attempts.last?.nodeID ?? "")
        }
        #expect(spread.isDisjoint(with: packed), "spread avoided the full node: \(spread) vs \(packed)")
        await #expect(throws: RPCError.self) { try await cluster.control.setDefaultStrategy("nonesuch") }
        await cluster.close()
    }

    @Test func sighupAppliesTheConfigurationsDefaultStrategy() async throws {
        let directory = try Paths.temporaryDirectory("orchion-server")
        let config = directory.appendingPathComponent("server.yaml")
        try Data("scheduler:\n  default_strategy: bin-packing\n".utf8).write(to: config)
        let cluster = try await Cluster(serverArguments: ["--config", config.path], directory: directory)
        #expect(try await cluster.control.scheduler().defaultStrategy == "bin-packing")
        try Data("scheduler:\n  default_strategy: spread\n".utf8).write(to: config)
        cluster.server.signal(SIGHUP)
        try await eventually("spread the default") { try await cluster.control.scheduler().defaultStrategy == "spread" }
        // A broken file is reported and changes nothing.
        try Data("scheduler:\n  default_strategy: [\n".utf8).write(to: config)
        cluster.server.signal(SIGHUP)
        try cluster.server.waitForLog("config not reloaded")
        #expect(try await cluster.control.scheduler().defaultStrategy == "spread")
        // SIGTERM stops it cleanly.
        cluster.server.stop()
        #expect(cluster.server.process.terminationReason == .exit)
        #expect(cluster.server.process.terminationStatus == 0)
        #expect(cluster.server.output.contains("stopping (signal 15)"))
    }

    @Test func aPluginDroppedInWhileRunningIsUsableByName() async throws {
        let cluster = try await Cluster()
        try await cluster.agent("n1")
        await #expect(throws: RPCError.self) { try await cluster.control.submit(spec(strategy: "dropped")) }
        let staging = try Paths.temporaryDirectory("orchion-plugin-build")
        defer { try? FileManager.default.removeItem(at: staging) }
        let built = try CPlugins.fixture("liborchion-dropped.so", in: staging, defines: ["FIXTURE_NAME=\"dropped\""])
        // Install atomically: copy beside, then rename into place.
        let hidden = cluster.server.pluginDirectory.appendingPathComponent(".liborchion-dropped.so.part")
        try FileManager.default.copyItem(atPath: built, toPath: hidden.path)
        #expect(
            rename(hidden.path, cluster.server.pluginDirectory.appendingPathComponent("liborchion-dropped.so").path)
                == 0)
        try await eventually("dropped listed") {
            try await cluster.control.plugins().contains { $0.name == "dropped" && $0.state == .loaded }
        }
        let job = try await cluster.control.submit(spec(strategy: "dropped"))
        let running = try await cluster.wait(job.id, .running)
        #expect(running.attempts.last?.strategy == "dropped")
        await cluster.close()
    }

    @Test func aPluginReturningGarbageIsQuarantinedAndJobsAreStillPlaced() async throws {
        let cluster = try await Cluster()
        try CPlugins.fixture(
            "liborchion-liar.so", in: cluster.server.pluginDirectory,
            defines: ["FIXTURE_NAME=\"liar\"", "FIXTURE_MODE=1"])
        try await eventually("liar loaded") { try await cluster.control.plugins().contains { $0.name == "liar" } }
        try await cluster.agent("n1")
        var ids: [String] = []
        for _ in 0..<5 { ids.append(try await cluster.control.submit(spec(strategy: "liar")).id) }
        for id in ids {
            let job = try await cluster.wait(id, .running)
            #expect(job.attempts.last?.nodeID == "n1")
            #expect(job.attempts.last?.strategy == "built-in bin-packing")
        }
        try await eventually("liar quarantined") {
            try await cluster.control.plugins().contains { $0.name == "liar" && $0.state == .quarantined }
        }
        let liar = try #require(try await cluster.control.plugins().first { $0.name == "liar" })
        #expect(!liar.reason.isEmpty)
        // What an operator sees from the command line.
        let listed = try runCommand(
            [
                Paths.orchion, "plugin", "list", "--server", "127.0.0.1:\(cluster.server.port)", "--token-file",
                cluster.server.directory.appendingPathComponent("client.credential").path,
            ], timeout: 30)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("liar"))
        #expect(listed.stdout.contains("quarantined"))
        await cluster.close()
    }
}
