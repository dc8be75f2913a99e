import Foundation
import OrchionAgent
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import Synchronization
import TestSupport
import Testing

/// The executor runtime running real processes through the built-in `exec`.
@Suite struct JobRunnerTests {
    @Test func aJobRunsAndItsStreamsArriveWithOffsets() async throws {
        let harness = try await RunnerHarness()
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(
                spec: JobSpec(
                    id: "stream", command: "echo one; printf 'oops' >&2; echo two; printf 'again' >&2", cwd: "/")))
        #expect(run.report.outcome.verdict == .succeeded && run.report.outcome.status == ExitStatus(code: 0, signal: 0))
        #expect(run.text(.stdout) == "one\ntwo\n")
        #expect(run.text(.stderr) == "oopsagain")
        for stream in [OrchionCore.OutputStream.stdout, .stderr] {
            var next: UInt64 = 0
            for chunk in run.chunks where chunk.stream == stream {
                #expect(chunk.offset == next, "\(stream) offsets are contiguous")
                next += UInt64(chunk.bytes.count)
            }
        }
        #expect(run.report.stdoutBytes == 8 && run.report.stderrBytes == 9)
        #expect(run.report.executor == "exec")
    }

    @Test func theAgentSetsTheJobsIdAttemptAndVisibleGPUs() async throws {
        let harness = try await RunnerHarness()
        defer { try? harness.shutdown() }
        let print =
            "env | grep -E '^(ORCHION_JOB_ID|ORCHION_ATTEMPT|CUDA_VISIBLE_DEVICES|ROCR_VISIBLE_DEVICES)=' | sort"
        // A job cannot widen its own GPUs through its environment.
        let granted = try await harness.run(
            JobAssignment(
                spec: JobSpec(id: "gpu", command: print, env: ["CUDA_VISIBLE_DEVICES": "0,1,2,3"]), attempt: 3,
                gpus: [3, 1]))
        #expect(
            granted.text(.stdout)
                == "CUDA_VISIBLE_DEVICES=3,1\nORCHION_ATTEMPT=3\nORCHION_JOB_ID=gpu\nROCR_VISIBLE_DEVICES=3,1\n")
        // Without GPUs both are set, empty: the job sees none.
        let none = try await harness.run(JobAssignment(spec: JobSpec(id: "cpu", command: print)))
        #expect(
            none.text(.stdout)
                == "CUDA_VISIBLE_DEVICES=\nORCHION_ATTEMPT=1\nORCHION_JOB_ID=cpu\nROCR_VISIBLE_DEVICES=\n")
    }

    @Test func aCancelWithoutATimeoutEscalatesToSIGKILLAfterTheCancelsGrace() async throws {
        // The runtime's grace would be a minute; the cancel asks for 200 ms.
        let harness = try await RunnerHarness { $0.killGraceMillis = 60_000 }
        defer { try? harness.shutdown() }
        // The shell and its sleep ignore SIGTERM; the job has no timeout.
        let spec = JobSpec(id: "stubborn", command: "trap '' TERM; echo ready; sleep 30; echo survived")
        #expect(spec.timeoutMillis == 0)
        let run = try await harness.run(JobAssignment(spec: spec)) { chunk, runner in
            if String(decoding: chunk.bytes, as: UTF8.self).contains("ready") { runner.cancel(graceMillis: 200) }
            return true
        }
        #expect(run.report.outcome.stoppedBy == .cancelled)
        #expect(run.report.outcome.status.signal == SIGKILL, "\(run.report.outcome.status)")
        #expect(run.report.outcome.verdict == .failed && run.report.outcome.reason == "cancelled")
        #expect(run.text(.stdout) == "ready\n")
        #expect(run.millis < 10_000, "stopped after the grace period, not after its 30 s sleep: \(run.millis) ms")
    }

    @Test func aTimeoutStopsTheJobAndIsReported() async throws {
        let harness = try await RunnerHarness()
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "slow", argv: ["sleep", "30"], timeoutMillis: 200)))
        #expect(run.report.outcome.stoppedBy == .timedOut)
        #expect(run.report.outcome.status.signal == SIGTERM)
        #expect(run.report.outcome.verdict == .failed && run.report.outcome.reason == "timed out after 200 ms")
        #expect(run.millis < 10_000, "\(run.millis) ms")
    }

    @Test func aTimeoutEscalatesToSIGKILLForAJobIgnoringSIGTERM() async throws {
        let harness = try await RunnerHarness { $0.killGraceMillis = 200 }
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "slow9", command: "trap '' TERM; sleep 30", timeoutMillis: 200)))
        #expect(run.report.outcome.stoppedBy == .timedOut && run.report.outcome.status.signal == SIGKILL)
    }

    @Test func aJobWhoseChildHoldsItsStdoutCompletesPromptly() async throws {
        let harness = try await RunnerHarness { $0.exitGraceMillis = 3_000 }
        defer { try? harness.shutdown() }
        // The shell exits at once; its background sleep keeps stdout open.
        let run = try await harness.run(JobAssignment(spec: JobSpec(id: "holder", command: "sleep 1000 & echo $!")))
        #expect(run.report.outcome.verdict == .succeeded)
        // Under the exit grace: it ended when the sleep did, on its SIGTERM.
        #expect(run.millis < 1_000, "completed in \(run.millis) ms, not after the sleep or the grace")
        let pid = Int32(run.text(.stdout).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(pid != nil)
        if let pid {
            #expect(
                await eventually(within: 5_000) { processIsGone(pid) }, "the group was stopped: sleep \(pid) is gone")
            kill(pid, SIGKILL)
        }
    }

    @Test func aJobWhoseEscapedChildHoldsItsStdoutCompletesAfterTheExitGrace() async throws {
        let harness = try await RunnerHarness { $0.exitGraceMillis = 300 }
        defer { try? harness.shutdown() }
        // setsid takes the sleep out of the job's process group (no cgroup
        // here): only closing the pipe ends the wait.
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "escaped", command: "setsid sleep 1000 & sleep 0.2; echo $!")))
        let pid = Int32(run.text(.stdout).trimmingCharacters(in: .whitespacesAndNewlines))
        if let pid { kill(pid, SIGKILL) }
        #expect(pid != nil)
        #expect(run.report.outcome.verdict == .succeeded)
        #expect(run.millis < 5_000, "\(run.millis) ms")
    }

    @Test func aMillionLinesReachASlowConsumerInOrderWithoutLoss() async throws {
        let harness = try await RunnerHarness {
            $0.outputMemoryBytes = 64 << 10
        }
        defer { try? harness.shutdown() }
        // A 10 ms heartbeat on the loop, to see that the flood never blocks it.
        let beats = Mutex<[UInt64]>([])
        let loop = harness.loop
        let heartbeat: LoopBound<OrchionLoop.Timer> = try await loop.submit {
            let timer = try OrchionLoop.Timer(loop: loop)
            timer.start(after: 10, repeat: 10) { beats.withLock { $0.append(nowMillis()) } }
            return LoopBound(timer, loop: loop)
        }
        // The consumer pauses after every chunk and resumes 2 ms later.
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "flood", argv: ["seq", "1", "1000000"])), resumeAfterMillis: 2
        ) { _, _ in false }
        try await loop.submit { heartbeat.wrapped.close() }

        #expect(run.report.outcome.verdict == .succeeded)
        var expected = 1
        var broken: String?
        var line: [UInt8] = []
        for chunk in run.chunks where chunk.stream == .stdout {
            for byte in chunk.bytes {
                guard byte == UInt8(ascii: "\n") else {
                    line.append(byte)
                    continue
                }
                if broken == nil, String(decoding: line, as: UTF8.self) != String(expected) {
                    broken = "line \(expected) reads \(String(decoding: line, as: UTF8.self))"
                }
                expected += 1
                line.removeAll(keepingCapacity: true)
            }
        }
        #expect(broken == nil, "\(broken ?? "")")
        #expect(expected - 1 == 1_000_000 && line.isEmpty, "\(expected - 1) lines")
        #expect(run.report.stdoutBytes == 6_888_896)
        #expect(run.report.spilledBytes > 0, "the consumer fell behind, so output went through the spill file")
        let times = beats.withLock { $0 }
        let gaps = zip(times, times.dropFirst()).map { $1 - $0 }
        #expect((gaps.max() ?? 0) < 500, "the loop kept turning: longest heartbeat gap \(gaps.max() ?? 0) ms")
    }

    @Test func whenTheSpillFileCannotBeMadeOutputWaitsInMemoryAndNothingIsLost() async throws {
        let harness = try await RunnerHarness {
            $0.outputMemoryBytes = 64 << 10
            $0.spillDirectory += "/missing"
        }
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "nospill", argv: ["seq", "1", "200000"])), resumeAfterMillis: 1
        ) { _, _ in false }
        #expect(run.report.outcome.verdict == .succeeded)
        let lines = run.text(.stdout).split(separator: "\n", omittingEmptySubsequences: false)
        let wrong = zip(lines, 1...200_000).first { $0.0 != String($0.1) }
        #expect(lines.count == 200_001 && lines.last == "", "\(lines.count - 1) lines")
        #expect(wrong == nil, "line \(wrong?.1 ?? 0) reads \(wrong?.0 ?? "")")
        var next: UInt64 = 0
        var jumps: [String] = []
        for (index, chunk) in run.chunks.enumerated() {
            if chunk.offset != next { jumps.append("#\(index) at \(chunk.offset) expected \(next)") }
            next = chunk.offset + UInt64(chunk.bytes.count)
        }
        #expect(jumps.isEmpty, "\(jumps.prefix(6)) of \(run.chunks.count) chunks")
        #expect(harness.log.lines.withLock { $0 }.contains { $0.contains("output spill failed") })
    }

    @Test func anUnknownUserIsRefusedBeforeAnythingRuns() async throws {
        let harness = try await RunnerHarness()
        defer { try? harness.shutdown() }
        let message = try await harness.startFailure(
            JobAssignment(spec: JobSpec(id: "u", command: "true", user: "no-such-user-orchion")))
        #expect(message == "unknown user 'no-such-user-orchion': expected an account on this machine")
    }

    @Test func anUnknownExecutorIsRefusedWithTheKnownOnes() async throws {
        let harness = try await RunnerHarness()
        defer { try? harness.shutdown() }
        let message = try await harness.startFailure(
            JobAssignment(spec: JobSpec(id: "x", command: "true", executor: "nope")))
        #expect(message == "unknown executor 'nope': expected one of exec")
    }

    @Test(
        .enabled(if: geteuid() == 0, "runs only as root: switching users needs it"))
    func aJobRunAsAnotherUserKeepsThatUsersSupplementaryGroups() async throws {
        let user = RunAsUserFixture.userWithMostGroups()
        let expected = RunAsUserFixture.groupList(user.name, primary: user.gid)
        // A root runtime runs jobs as another user only when its policy allows that user.
        let harness = try await RunnerHarness { $0.jobUsers.allowedUsers = [user.name] }
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "runas", command: "id -u; id -g; id -G", cwd: "/", user: user.name)))
        let lines = run.text(.stdout).split(separator: "\n").map(String.init)
        #expect(run.report.outcome.verdict == .succeeded, "\(run.report.outcome.reason) \(run.text(.stderr))")
        #expect(lines.count == 3)
        if lines.count == 3 {
            #expect(lines[0] == String(user.uid) && lines[1] == String(user.gid))
            let groups = Set(lines[2].split(separator: " ").compactMap { UInt32($0) })
            #expect(
                groups == Set(expected), "user \(user.name): id -G says \(lines[2]), getgrouplist says \(expected)")
        }
    }

    /// As root every job switches users, which takes the helper: without
    /// it the runtime is not made, rather than jobs running as root.
    @Test(.enabled(if: geteuid() == 0, "runs only as root: switching users needs it"))
    func aRootRuntimeWithoutTheExecHelperIsNotMadeRatherThanRunJobsAsRoot() async throws {
        await #expect {
            try await RunnerHarness { $0.spawnHelper = "/nonexistent/orchion-spawn" }.shutdown()
        } throws: { error in
            "\(error)"
                == "jobs need the exec helper orchion-spawn here, expected an executable at /nonexistent/orchion-spawn"
        }
    }

    @Test func aSlowExecutorRunsOnItsOwnThreadAndNeverStallsTheLoop() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try CPlugins.fixture("slow.so", in: dir, source: "slow_executor.c"))
        let calls = Mutex<[String]>([])
        let harness = try await RunnerHarness()
        defer { try? harness.shutdown() }
        let loop = harness.loop
        let slow = try await ExecutorService(
            library, config: ["classify_ms": "1500"],
            sink: { _, event in
                if case .log(_, let line) = event {
                    calls.withLock { $0.append("\(line) onLoop=\(loop.inLoopThread)") }
                }
            })
        #expect(harness.catalog.add(slow))
        let beats = Mutex<[UInt64]>([])
        let heartbeat: LoopBound<OrchionLoop.Timer> = try await loop.submit {
            let timer = try OrchionLoop.Timer(loop: loop)
            timer.start(after: 20, repeat: 20) { beats.withLock { $0.append(nowMillis()) } }
            return LoopBound(timer, loop: loop)
        }
        let started = nowMillis()
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "s", command: "echo hi", executor: "slow-exec")))
        let finished = nowMillis()
        try await loop.submit { heartbeat.wrapped.close() }
        #expect(run.report.outcome.verdict == .succeeded && run.report.outcome.reason == "slept 1500 ms")
        #expect(run.text(.stdout) == "hi\n")
        #expect(finished - started >= 1_500, "classify really blocked its thread for 1.5 s")
        let during = beats.withLock { $0 }.filter { $0 >= started && $0 <= finished }
        let gaps = zip([started] + during, during + [finished]).map { $1 - $0 }
        #expect(during.count >= 10, "the heartbeat kept firing: \(during.count) beats in 1.5 s")
        #expect((gaps.max() ?? .max) < 500, "longest gap between beats: \(gaps.max() ?? 0) ms")
        #expect(
            calls.withLock { $0 } == ["init onLoop=false", "prepare onLoop=false", "classify onLoop=false"],
            "every executor call ran off the loop thread")
    }

    @Test func anExecutorsRefusalReachesStartedAndNothingRuns() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try CPlugins.fixture("slow.so", in: dir, source: "slow_executor.c"))
        let harness = try await RunnerHarness(extra: [library])
        defer { try? harness.shutdown() }
        let message = try await harness.startFailure(
            JobAssignment(spec: JobSpec(id: "argv", argv: ["true"], executor: "slow-exec")))
        #expect(message == "plugin 'slow-exec': prepare failed (status 1): expected a command")
    }

    @Test func aJobRunsUnderItsOwnTimeoutWhenTheExecutorAsksForTheLongestThereIs() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(
            try CPlugins.fixture("long.so", in: dir, source: "long_timeout_executor.c"))
        let harness = try await RunnerHarness(extra: [library])
        defer { try? harness.shutdown() }
        let name = library.info.name
        // Were UINT64_MAX used, this would run its whole 10 s.
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "capped", command: "sleep 10", timeoutMillis: 200, executor: name)))
        #expect(run.report.outcome.stoppedBy == .timedOut)
        #expect(run.millis < 5_000, "stopped at the job's timeout, not the executor's")
    }
}

/// Finding an existing account to run a job as (nothing is created).
enum RunAsUserFixture {
    struct User {
        let name: String
        let uid: UInt32
        let gid: UInt32
    }

    /// The non-root user with the most groups (one named as a member of a
    /// group in the group database when there is one), else `nobody`.
    static func userWithMostGroups() -> User {
        var members: Set<String> = []
        setgrent()
        while let group = getgrent() {
            var member = group.pointee.gr_mem
            while let name = member?.pointee {
                members.insert(String(cString: name))
                member = member?.advanced(by: 1)
            }
        }
        endgrent()
        var best: (User, Int)?
        for name in members.sorted() + ["nobody"] {
            guard let entry = getpwnam(name), entry.pointee.pw_uid != 0 else { continue }
            let user = User(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
            let count = groupList(name, primary: user.gid).count
            if best == nil || count > (best?.1 ?? 0) { best = (user, count) }
        }
        return best?.0 ?? User(name: "nobody", uid: 65534, gid: 65534)
    }

    static func groupList(_ name: String, primary: gid_t) -> [UInt32] {
        var count: Int32 = 256
        var groups = [gid_t](repeating: 0, count: 256)
        guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [primary] }
        return Array(groups.prefix(Int(count)))
    }
}
