import ClusterTestSupport
import Foundation
import OrchionProto
import TestSupport
import Testing

/// The real server with real `orchion agent run` processes on 127.0.0.1.
@Suite(.serialized) struct AgentEndToEndTests {
    @Test func twoJobsSpreadOverTwoAgentsSucceedAndTheirStdoutArrives() async throws {
        let cluster = try await AgentCluster(strategy: "spread")
        do {
            try await cluster.agent("e2e-a")
            try await cluster.agent("e2e-b")
            let first = try await cluster.control.submit(shellJob("echo hello-one; sleep 2")).id
            let second = try await cluster.control.submit(shellJob("echo hello-two; sleep 2")).id
            let one = try await cluster.waitJob(first, "succeeded") { $0.state == .succeeded }
            let two = try await cluster.waitJob(second, "succeeded") { $0.state == .succeeded }
            #expect(Set([one.attempts.first?.nodeID, two.attempts.first?.nodeID]) == ["e2e-a", "e2e-b"])
            #expect(one.attempts.first?.exitCode == 0)
            #expect(try await cluster.stdout(first) == "hello-one\n")
            #expect(try await cluster.stdout(second) == "hello-two\n")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func cancelStopsARunningSleepJob() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("cancel-a")
            let id = try await cluster.control.submit(shellJob(cluster.jobs.record + "exec sleep 300")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            try await eventually("the job's pid recorded") { !cluster.jobs.pids.isEmpty }
            _ = try await cluster.control.cancel(id)
            let job = try await cluster.waitJob(id, "cancelled", timeout: 20) { $0.state == .cancelled }
            #expect(job.attempts.first?.state == .cancelled)
            let pid = try #require(cluster.jobs.pids.first)
            try await eventually("the sleep process gone") { kill(pid, 0) != 0 }
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    /// Found by attack: a client's cancel reason reached the agent's log
    /// raw, so a line break forged a log line and escape sequences drove
    /// the terminal of `orchion up`, which copies the agent's log there.
    @Test func aCancelReasonWithALineBreakAndEscapesIsLoggedByTheAgentOnOneEscapedLine() async throws {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("escape-a")
            let id = try await cluster.control.submit(shellJob(cluster.jobs.record + "exec sleep 300")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            let reason = "evil\r\n2026-01-01T00:00:00Z FORGED\u{1B}]0;title\u{07}\u{9B}2J"
            _ = try await cluster.control.cancel(id, reason: reason)
            try await cluster.waitJob(id, "cancelled", timeout: 20) { $0.state == .cancelled }
            try agent.waitForLog("evil\\r\\n2026")
            let output = agent.output
            #expect(!output.split(separator: "\n").contains { $0.hasPrefix("2026-01-01T00:00:00Z FORGED") })
            #expect(!output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B })
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aBusyJobsCPUAndMemoryAppearInItsNodesHeartbeatTelemetry() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("usage-a")
            let id = try await cluster.control.submit(shellJob("while :; do :; done")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            try await eventually("the job's usage, busy, in the node's telemetry", timeout: 20) {
                let node = try await cluster.control.node("usage-a")
                guard let usage = node.telemetry.jobs.first(where: { $0.jobID == id }) else { return false }
                return usage.attempt == 1 && usage.cpuCores > 0.05 && usage.cpuMicros > 0 && usage.memoryBytes > 0
                    && ["cgroup", "proc"].contains(usage.source)
            }
            let node = try await cluster.control.node("usage-a")
            #expect(node.telemetry.memoryTotalBytes > node.telemetry.memoryUsedBytes)
            #expect(node.history.allSatisfy { $0.jobs.isEmpty })
            _ = try await cluster.control.cancel(id)
            try await cluster.waitJob(id, "cancelled", timeout: 20) { $0.state == .cancelled }
            try await eventually("the ended job gone from the telemetry", timeout: 20) {
                try await cluster.control.node("usage-a").telemetry.jobs.isEmpty
            }
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aSecondAgentOnTheSameStateDirectoryIsRefusedAndTheFirstsJobRunsOn() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("shared-a")
            let id = try await cluster.control.submit(shellJob(cluster.jobs.record + "exec sleep 300")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            try await eventually("the job's pid recorded") { !cluster.jobs.pids.isEmpty }
            // The same node id and state directory, as a hand-started agent beside a service's.
            let second = try AgentUnderTest("shared-a", server: cluster.server)
            try #require(second.waitForExit(timeout: 20), "the second agent ran: \(second.output)")
            #expect(second.process.terminationStatus == 2)
            #expect(second.output.contains("in use by another orchion agent"))
            let job = try await cluster.waitJob(id, "still on its first attempt") { $0.state == .running }
            #expect(job.attempts.count == 1 && job.attempts.first?.state == .running)
            let pid = try #require(cluster.jobs.pids.first)
            #expect(kill(pid, 0) == 0, "the first agent's job process is gone")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aKilledAgentsJobIsLostAndRetriedOnTheOtherAgent() async throws {
        let cluster = try await AgentCluster()
        do {
            let agents = [try await cluster.agent("lost-a"), try await cluster.agent("lost-b")]
            let id = try await cluster.control.submit(
                shellJob(cluster.jobs.record + "sleep 3; echo finished", maxAttempts: 2)
            ).id
            let running = try await cluster.waitJob(id, "running") { $0.state == .running }
            let firstNode = try #require(running.attempts.first?.nodeID)
            let victim = try #require(agents.first { $0.nodeID == firstNode })
            victim.kill()
            let job = try await cluster.waitJob(id, "retried elsewhere and succeeded", timeout: 60) {
                $0.state == .succeeded
            }
            #expect(job.attempts.count == 2)
            #expect(job.attempts.first?.state == .lost)
            #expect(job.attempts.last?.nodeID != firstNode)
            #expect(job.attempts.last?.state == .succeeded)
            #expect(try await cluster.stdout(id) == "finished\n")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aJobRunningAcrossAServerRestartIsAdoptedAndOneEndingWhileItIsDownIsDeliveredAfter() async throws {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("restart-a")
            let long = try await cluster.control.submit(shellJob("sleep 4; echo done-long")).id
            let short = try await cluster.control.submit(shellJob("sleep 1; echo done-short")).id
            try await cluster.waitJob(long, "running") { $0.state == .running }
            try await cluster.waitJob(short, "running") { $0.state == .running }
            cluster.server.crash()
            // The short job ends while the server is down: its output and end go to the spool.
            try agent.waitForLog("\(short)#1 succeeded", timeout: 20)
            try cluster.server.restart()
            try await cluster.reconnectControl()
            let shortJob = try await cluster.waitJob(short, "succeeded after the restart") { $0.state == .succeeded }
            let longJob = try await cluster.waitJob(long, "adopted and succeeded") { $0.state == .succeeded }
            #expect(shortJob.attempts.count == 1)
            #expect(longJob.attempts.count == 1)
            #expect(try await cluster.stdout(short) == "done-short\n")
            #expect(try await cluster.stdout(long) == "done-long\n")
            // Each ran once on the agent.
            #expect(agent.output.components(separatedBy: "\(long)#1 succeeded").count == 2)
            #expect(agent.output.components(separatedBy: "\(short)#1 succeeded").count == 2)
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func anAttemptRedeliveredAfterAnAgentRestartIsNotRunAgain() async throws {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("again-a")
            let record = "echo \"$$ $ORCHION_ATTEMPT\" >> '\(cluster.jobs.file.path)'; "
            // One attempt allowed: a lost attempt is the node's fault and does not count.
            let id = try await cluster.control.submit(shellJob(record + "exec sleep 300")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            try await eventually("attempt 1's pid recorded") { !cluster.jobs.pids.isEmpty }
            let firstPID = try #require(cluster.jobs.pids.first)
            agent.kill()
            try agent.launch()
            try agent.waitForLog("\(id)#1: the agent restarted while the attempt ran")
            try await eventually("attempt 1's process killed") { kill(firstPID, 0) != 0 }
            let job = try await cluster.waitJob(id, "attempt 2 running") {
                $0.state == .running && $0.attempts.count == 2
            }
            #expect(job.attempts.first?.state == .lost)
            // Lost either way: reported so by the restarted agent, or by the
            // server when the node stayed silent past its TTL first.
            let reason = job.attempts.first?.reason ?? ""
            #expect(reason.contains("the agent restarted while the attempt ran") || reason.contains("went silent"))
            let lines = ((try? String(contentsOf: cluster.jobs.file, encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(lines.filter { $0.hasSuffix(" 1") }.count == 1)
            _ = try await cluster.control.cancel(id)
            try await cluster.waitJob(id, "cancelled", timeout: 20) { $0.state == .cancelled }
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func outputAndEndSpooledWhileTheServerIsDownSurviveAnAgentKillAndAreDeliveredOnce() async throws {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("spool-a")
            let id = try await cluster.control.submit(shellJob("sleep 1; echo spooled-out; echo spooled-err >&2")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            cluster.server.crash()
            // Logged once the end is in the journal (fsynced), after the output.
            try agent.waitForLog("\(id)#1 succeeded", timeout: 20)
            agent.kill()
            try cluster.server.restart()
            try await cluster.reconnectControl()
            try agent.launch()
            let job = try await cluster.waitJob(id, "succeeded after the agent came back") { $0.state == .succeeded }
            #expect(job.attempts.count == 1)
            #expect(job.attempts.first?.exitCode == 0)
            #expect(try await cluster.stdout(id) == "spooled-out\n")
            try agent.waitForLog("connected to")
            #expect(!agent.output.contains("\(id)#1 failed"))
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func anOutputFloodReachesTheServerWithEveryLineInOrder() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("flood-a")
            let id = try await cluster.control.submit(shellJob("seq 1 300000")).id
            try await cluster.waitJob(id, "succeeded", timeout: 60) { $0.state == .succeeded }
            let lines = try await cluster.stdout(id).split(separator: "\n")
            #expect(lines.count == 300_000)
            #expect(lines.first == "1" && lines.last == "300000")
            #expect(lines.enumerated().allSatisfy { $0.element == "\($0.offset + 1)" })
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func sigtermWithStopJobsOnExitStopsTheRunningJobAndReportsItLostForARetryBeforeExiting() async throws {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("term-a", arguments: ["--stop-jobs-on-exit"])
            let id = try await cluster.control.submit(shellJob(cluster.jobs.record + "exec sleep 300")).id
            try await cluster.waitJob(id, "running") { $0.state == .running }
            try await eventually("the job's pid recorded") { !cluster.jobs.pids.isEmpty }
            agent.signal(SIGTERM)
            #expect(agent.waitForExit(timeout: 20))
            #expect(agent.process.terminationStatus == 0)
            let job = try await cluster.waitJob(id, "back to pending after the agent's stop") {
                $0.state == .pending && $0.attempts.first?.state == .lost
            }
            #expect(job.attempts.count == 1)
            #expect(job.attempts.first?.reason.contains("the agent on term-a shut down and stopped it") == true)
            let pid = try #require(cluster.jobs.pids.first)
            #expect(kill(pid, 0) != 0)
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func underSystemdTheAgentSaysReadyOnceRegisteredFeedsTheWatchdogAndSaysStopping() async throws {
        let manager = try ManagerSocket()
        defer { manager.shutdown() }
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent(
                "notify-a", environment: ["NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "1000000"])
            var received: [String] = []
            while received.filter({ $0 == "WATCHDOG=1" }).count < 2, let datagram = manager.receive(within: 10) {
                received.append(datagram)
            }
            #expect(received.contains { $0.split(separator: "\n").contains("READY=1") }, "\(received)")
            #expect(received.filter { $0 == "WATCHDOG=1" }.count >= 2, "\(received)")
            #expect(received.contains { $0.contains("STATUS=") })
            agent.signal(SIGTERM)
            var stopping = false
            while !stopping, let datagram = manager.receive(within: 10) {
                stopping = datagram.split(separator: "\n").contains("STOPPING=1")
            }
            #expect(stopping)
            #expect(agent.waitForExit(timeout: 20))
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }
}
