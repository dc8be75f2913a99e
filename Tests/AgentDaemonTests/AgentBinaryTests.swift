import ClusterTestSupport
import Foundation
import OrchionProto
import TestSupport
import Testing

/// `orchion-agent`, the agent's own binary (not `orchion agent run`), with
/// the real server on 127.0.0.1.
@Suite(.serialized) struct AgentBinaryTests {
    @Test func orchionAgentRegistersAndRunsJobsWithItsLinkedExecAndAThirdPartyCExecutorNamedByAJob() async throws {
        let cluster = try await AgentCluster()
        do {
            let plugins = cluster.server.directory.appendingPathComponent("agent-plugins")
            try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
            let library = try CPlugins.fixture("echo-id.so", in: plugins, source: "echo_id_executor.c")
            let agent = try await cluster.agent(
                "binary-a", binary: .orchionAgent, arguments: ["--plugins-dir", plugins.path])
            try agent.waitForLog("executors: echo-id (\(library)), exec (linked in)")
            let node = try await cluster.control.node("binary-a")
            #expect(node.capabilities.executors == ["echo-id", "exec"])
            // exec is the one linked in: no exec shared object is mapped
            // (the development build keeps one beside the binary).
            let maps = try String(contentsOfFile: "/proc/\(agent.process.processIdentifier)/maps", encoding: .utf8)
            #expect(!maps.contains("liborchion-exec"))

            let plain = try await cluster.control.submit(shellJob("echo from-exec")).id
            var named = shellJob("echo not-this")
            named.executor = "echo-id"
            let third = try await cluster.control.submit(named).id
            let plainJob = try await cluster.waitJob(plain, "succeeded") { $0.state == .succeeded }
            let thirdJob = try await cluster.waitJob(third, "succeeded") { $0.state == .succeeded }
            #expect(plainJob.attempts.first?.nodeID == "binary-a")
            #expect(thirdJob.attempts.first?.nodeID == "binary-a")
            #expect(try await cluster.stdout(plain) == "from-exec\n")
            #expect(try await cluster.stdout(third) == "third-party:\(third)\n")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }
}
