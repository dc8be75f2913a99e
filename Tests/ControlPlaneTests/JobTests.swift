import ClusterTestSupport
import Foundation
import OrchionProto
import OrchionWire
import Testing

@Suite(.serialized) struct JobTests {
    @Test func higherPriorityRunsFirstAndFIFOWithinAPriority() async throws {
        let cluster = try await Cluster()
        // Room for one job at a time.
        let agent = try await cluster.agent("n1", cpuMillis: 1000, autoStart: false)
        let blocker = try await cluster.control.submit(spec(cpu: 1000))
        try await eventually("blocker assigned") { agent.received.assignments.count == 1 }
        let low1 = try await cluster.control.submit(spec(cpu: 1000, priority: 0))
        let low2 = try await cluster.control.submit(spec(cpu: 1000, priority: 0))
        let high = try await cluster.control.submit(spec(cpu: 1000, priority: 10))
        var order: [String] = [blocker.id]
        for _ in 0..<3 {
            let current = try #require(agent.received.assignments.last)
            try await agent.report(current.job.id, attempt: current.attempt, .running)
            try await agent.report(current.job.id, attempt: current.attempt, .succeeded)
            let count = order.count
            try await eventually("next assignment") { agent.received.assignments.count == count + 1 }
            order.append(agent.received.assignments[count].job.id)
        }
        #expect(order == [blocker.id, high.id, low1.id, low2.id])
        await cluster.close()
    }

    @Test func constraintsDecidePlacementAndWhyPendingCountsNodesPerReason() async throws {
        let cluster = try await Cluster()
        try await cluster.agent("pi", cpuMillis: 4000, arch: "aarch64", labels: ["zone": "attic"])
        try await cluster.agent("box", cpuMillis: 2000, labels: ["zone": "cellar"])
        let attic = try await cluster.control.submit(spec(constraints: ["zone": "attic"]))
        #expect(try await cluster.wait(attic.id, .running).attempts.last?.nodeID == "pi")
        let huge = try await cluster.control.submit(spec(cpu: 64_000))
        try await eventually("why-pending recorded") {
            try await cluster.control.job(huge.id).pendingReasons.count > 0
        }
        let pending = try await cluster.control.job(huge.id)
        #expect(pending.state == .pending)
        #expect(pending.reason.hasPrefix("2 nodes: 2 "), "\(pending.reason)")
        #expect(pending.pendingReasons.map(\.nodes) == [2])
        let nowhere = try await cluster.control.submit(spec(constraints: ["zone": "garage"]))
        try await eventually("explained") { try await cluster.control.job(nowhere.id).pendingReasons.count > 0 }
        #expect(try await cluster.control.job(nowhere.id).reason.contains("zone=garage"))
        await cluster.close()
    }

    @Test func cancelReachesTheAgentAndEndsTheJobWhenItConfirms() async throws {
        let cluster = try await Cluster()
        let agent = try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec("sleep 1000"))
        try await cluster.wait(job.id, .running)
        _ = try await cluster.control.cancel(job.id)
        try await eventually("cancel sent") { agent.received.cancels.contains { $0.jobID == job.id } }
        #expect(try await cluster.control.job(job.id).state == .running)
        try await agent.report(job.id, attempt: 1, .cancelled, exitCode: -1, reason: "stopped by SIGTERM")
        let cancelled = try await cluster.wait(job.id, .cancelled)
        #expect(cancelled.attempts.count == 1)
        // Cancelling a pending job ends it at once; a finished one cannot be cancelled.
        let stuck = try await cluster.control.submit(spec(cpu: 64_000))
        #expect(try await cluster.control.cancel(stuck.id).state == .cancelled)
        await #expect(throws: RPCError.self) { try await cluster.control.cancel(job.id) }
        await cluster.close()
    }

    @Test func aRequestIDSubmitsOnceAndListingPagesThroughEveryJob() async throws {
        let cluster = try await Cluster()
        let first = try await cluster.control.submit(spec(), requestID: "deploy-42")
        let again = try await cluster.control.submit(spec("other"), requestID: "deploy-42")
        #expect(first.id == again.id)
        for _ in 0..<6 { _ = try await cluster.control.submit(spec()) }
        var seen: [String] = []
        var token = ""
        repeat {
            let page = try await cluster.control.jobs(pageSize: 3, token: token)
            #expect(page.jobs.count <= 3)
            seen += page.jobs.map(\.id)
            token = page.nextPageToken
        } while !token.isEmpty
        #expect(seen.count == 7)
        #expect(Set(seen).count == 7)
        #expect(seen.first == first.id)
        await cluster.close()
    }

    @Test func aSpecWithATypoIsRefusedWithTheField() async throws {
        let cluster = try await Cluster()
        await #expect(throws: RPCError.self) { try await cluster.control.submit(spec(strategy: "bin-pakcing")) }
        do {
            _ = try await cluster.control.submit(Orchion_V1_JobSpec())
            Issue.record("an empty spec was accepted")
        } catch let error as RPCError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("command"))
        }
        #expect(try await cluster.control.jobs().jobs.isEmpty)
        await cluster.close()
    }

    @Test func eventsAreNumberedAndAWatcherResumesAfterASequence() async throws {
        let cluster = try await Cluster()
        try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec())
        try await cluster.wait(job.id, .running)
        var all: [Orchion_V1_JobEvent] = []
        for try await event in cluster.control.events(job: job.id) {
            all.append(event)
            if event.state == .running { break }
        }
        #expect(all.map(\.state) == [.pending, .scheduled, .running])
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        var resumed: [Orchion_V1_JobEvent] = []
        for try await event in cluster.control.events(after: all[0].sequence, job: job.id) {
            resumed.append(event)
            if event.state == .running { break }
        }
        #expect(resumed.map(\.sequence) == all.dropFirst().map(\.sequence))
        await cluster.close()
    }

    @Test func cordonAndDrainKeepNewJobsOffANodeAndUncordonReturnsIt() async throws {
        let cluster = try await Cluster()
        let agent = try await cluster.agent("n1")
        let running = try await cluster.control.submit(spec("sleep 1000"))
        try await cluster.wait(running.id, .running)
        #expect(try await cluster.control.cordon("n1").cordoned)
        let waiting = try await cluster.control.submit(spec())
        try await eventually("explained") { try await cluster.control.job(waiting.id).pendingReasons.count > 0 }
        #expect(try await cluster.control.job(waiting.id).reason == "1 node: 1 is cordoned")
        #expect(try await cluster.control.job(running.id).state == .running, "cordon leaves running jobs alone")
        let drained = try await cluster.control.drain("n1")
        #expect(drained.state == .draining)
        #expect(try await cluster.control.uncordon("n1").state == .ready)
        try await cluster.wait(waiting.id, .running)
        #expect(agent.received.cancels.isEmpty)
        do {
            _ = try await cluster.control.cordon("nonesuch")
            Issue.record("cordoned an unknown node")
        } catch let error as RPCError {
            #expect(error.code == .notFound)
        }
        await cluster.close()
    }
}
