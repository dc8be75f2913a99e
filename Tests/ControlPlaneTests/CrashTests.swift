import ClusterTestSupport
import Foundation
import OrchionProto
import OrchionWire
import Synchronization
import Testing

@Suite(.serialized) struct CrashTests {
    /// kill -9 of the server while clients submit: every acknowledged job is
    /// there after the restart, and each completes exactly once — the agent
    /// never receives the same attempt twice, and no job gets a second
    /// attempt from redelivery.
    @Test func everyAcknowledgedJobSurvivesKill9AndCompletesExactlyOnce() async throws {
        let cluster = try await Cluster()
        let acknowledged = Acknowledged()
        let submitters = (0..<4).map { worker in
            Task {
                var index = 0
                while !Task.isCancelled {
                    index += 1
                    do {
                        let job = try await cluster.control.submit(spec(), requestID: "w\(worker)-\(index)")
                        acknowledged.ids.withLock { $0.append(job.id) }
                    } catch {
                        return
                    }
                }
            }
        }
        try await eventually("some jobs acknowledged") { acknowledged.ids.withLock { $0.count } >= 200 }
        try cluster.server.crashAndRestart()
        for task in submitters { task.cancel() }
        for task in submitters { _ = await task.value }
        let ids = acknowledged.ids.withLock { $0 }
        let thread = cluster.thread
        let control = try await ControlClient.connect(cluster.server.address, loop: thread.loop)
        var stored: Set<String> = []
        var token = ""
        repeat {
            let page = try await control.jobs(pageSize: 1000, token: token)
            stored.formUnion(page.jobs.map(\.id))
            token = page.nextPageToken
        } while !token.isEmpty
        let missing = Set(ids).subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) of \(ids.count) acknowledged jobs lost")

        // One agent runs them all, answering each assignment once.
        let agent = try await TestAgent(
            "worker", server: cluster.server.address, loop: thread.loop, cpuMillis: 1_000_000,
            memoryBytes: 1 << 40, autoStart: false)
        var finished: Set<String> = []
        var answered = 0
        try await eventually("every job assigned and finished", timeout: 120) {
            let assignments = agent.received.assignments
            for assignment in assignments[answered...] {
                try await agent.report(assignment.job.id, attempt: assignment.attempt, .running)
                try await agent.report(assignment.job.id, attempt: assignment.attempt, .succeeded)
                finished.insert(assignment.job.id)
            }
            answered = assignments.count
            return stored.isSubset(of: finished)
        }
        let assignments = agent.received.assignments
        #expect(assignments.count == Set(assignments.map(\.job.id)).count, "an assignment was delivered twice")
        #expect(assignments.allSatisfy { $0.attempt == 1 })
        for id in ids.prefix(50) {
            let job = try await control.job(id)
            #expect(job.state == .succeeded)
            #expect(job.attempts.count == 1)
        }
        await agent.disconnect()
        await control.client.close()
        await cluster.close()
    }

    @Test func jobsRunningAcrossAServerRestartAreAdoptedNotRestarted() async throws {
        let cluster = try await Cluster()
        let agent = try await cluster.agent("n1")
        let job = try await cluster.control.submit(spec("sleep 1000"))
        try await cluster.wait(job.id, .running)
        var seen: UInt64 = 0
        for try await event in cluster.control.events(job: job.id) {
            seen = max(seen, event.sequence)
            if event.state == .running { break }
        }
        let credential = try #require(agent.received.registered?.nodeCredential)
        await agent.disconnect()
        try cluster.server.crashAndRestart()
        let thread = cluster.thread
        let control = try await ControlClient.connect(cluster.server.address, loop: thread.loop)
        let back = try await TestAgent(
            "n1", server: cluster.server.address, loop: thread.loop, token: credential,
            running: [
                .with {
                    $0.jobID = job.id
                    $0.attempt = 1
                    $0.pid = 4242
                }
            ])
        try await eventually("registered again") { back.received.registered != nil }
        #expect(back.received.registered?.stopJobIds == [])
        let adopted = try await control.job(job.id)
        #expect(adopted.state == .running)
        #expect(adopted.attempts.count == 1)
        #expect(back.received.assignments.isEmpty)
        try await back.report(job.id, attempt: 1, .succeeded)
        try await eventually("succeeded") { try await control.job(job.id).state == .succeeded }
        // Numbers a watcher saw before the crash are never handed to new
        // events (the job is finished, so its watch replays and ends).
        var all: [Orchion_V1_JobEvent] = []
        for try await event in control.events(job: job.id) { all.append(event) }
        let succeeded = try #require(all.last { $0.state == .succeeded })
        #expect(succeeded.sequence > seen)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        await back.disconnect()
        await control.client.close()
        await cluster.close()
    }
}

/// Job ids the server acknowledged, appended by several submitting tasks.
private final class Acknowledged: Sendable {
    let ids = Mutex<[String]>([])
}
