import ClusterTestSupport
import Foundation
import OrchionProto
import OrchionWire
import TestSupport
import Testing

@Suite(.serialized) struct ObservabilityTests {
    @Test func logsStreamToFollowersAndStayReadableAfterTheNodeIsGone() async throws {
        let cluster = try await Cluster()
        let agent = try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec("echo hello; echo oops >&2"))
        try await cluster.wait(job.id, .running)
        // A follower from before the output, reading until the attempt ends.
        let follower = Task {
            var text = ""
            for try await chunk in cluster.control.logs(job.id, follow: true) {
                text += String(decoding: chunk.data, as: UTF8.self)
            }
            return text
        }
        try await agent.log(job.id, attempt: 1, .stdout, offset: 0, "hello\n")
        try await agent.log(job.id, attempt: 1, .stderr, offset: 0, "oops\n")
        // A redelivery after a reconnect changes nothing.
        try await agent.log(job.id, attempt: 1, .stdout, offset: 0, "hello\n")
        try await agent.log(job.id, attempt: 1, .stdout, offset: 6, "bye\n")
        try await agent.report(job.id, attempt: 1, .succeeded)
        try await cluster.wait(job.id, .succeeded)
        #expect(try await follower.value == "hello\noops\nbye\n")
        await agent.disconnect()
        var later = ""
        for try await chunk in cluster.control.logs(job.id, follow: false) {
            later += String(decoding: chunk.data, as: UTF8.self)
        }
        #expect(later == "hello\noops\nbye\n")
        // Output claimed by a node that does not run the attempt is not kept.
        let other = try await cluster.agent("n2")
        try await other.log(job.id, attempt: 1, .stdout, offset: 10, "forged\n")
        try await eventually("the forged chunk refused") {
            let metrics = try runCommand(["curl", "-sf", "http://127.0.0.1:\(cluster.server.port)/metrics"]).stdout
            return metrics.contains("orchion_agent_messages_ignored_total 1")
        }
        var after = ""
        for try await chunk in cluster.control.logs(job.id, follow: false) {
            after += String(decoding: chunk.data, as: UTF8.self)
        }
        #expect(after == later)
        await cluster.close()
    }

    @Test func metricsAreServedWithoutATokenAndPassPromtool() async throws {
        let cluster = try await Cluster()
        try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec())
        try await cluster.wait(job.id, .running)
        let url = "http://127.0.0.1:\(cluster.server.port)/metrics"
        var body = ""
        try await eventually("nodes counted") {
            body = try runCommand(["curl", "-sf", url], timeout: 10).stdout
            return body.contains("orchion_nodes{state=\"ready\"} 1")
        }
        #expect(body.contains("orchion_jobs{state=\"running\"} 1"))
        #expect(body.contains("orchion_heartbeats_total "))
        #expect(body.contains("orchion_store_commit_seconds_bucket"))
        #expect(body.contains("orchion_scheduling_batch_seconds_count"))
        #expect(!body.contains(ServerProcess.joinToken) && !body.contains(ServerProcess.clientToken))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            Issue.record("promtool is not installed (.ci/setup installs Debian's prometheus package)")
            await cluster.close()
            return
        }
        let file = cluster.server.directory.appendingPathComponent("metrics.txt")
        try Data(body.utf8).write(to: file)
        let check = try runCommand(["sh", "-c", "promtool check metrics < '\(file.path)'"], timeout: 30)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        await cluster.close()
    }

    @Test func followingAPendingJobWaitsForItsFirstAttempt() async throws {
        let cluster = try await Cluster()
        let job = try await cluster.control.submit(spec("echo later"))
        let follower = Task {
            var text = ""
            for try await chunk in cluster.control.logs(job.id, follow: true) {
                text += String(decoding: chunk.data, as: UTF8.self)
            }
            return text
        }
        let agent = try await cluster.agent("n1")
        try await cluster.wait(job.id, .running)
        try await agent.log(job.id, attempt: 1, .stdout, offset: 0, "later\n")
        try await agent.report(job.id, attempt: 1, .succeeded)
        #expect(try await follower.value == "later\n")
        await cluster.close()
    }
}
