import Foundation
import OrchionAgent
import OrchionCore
import TestSupport
import Testing

/// What this machine lets the agent do with cgroup v2, found once.
private let support = CgroupSupport.detect()
private var cgroupsWritable: Bool {
    if case .available = support { return true }
    return false
}
private var memoryControllerOn: Bool {
    if case .available(let base) = support { return base.memory }
    return false
}

/// Job cgroups: detection, a job inside its own cgroup, the memory limit.
@Suite struct CgroupTests {
    @Test func withoutACgroupV2MountDetectionSaysSo() throws {
        let proc = try Paths.temporaryDirectory("orchion-proc")
        defer { try? FileManager.default.removeItem(at: proc) }
        try FileManager.default.createDirectory(
            at: proc.appendingPathComponent("self"), withIntermediateDirectories: true)
        try "22 1 0:20 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n".write(
            to: proc.appendingPathComponent("self/mountinfo"), atomically: true, encoding: .utf8)
        #expect(
            CgroupSupport.detect(proc: proc.path)
                == .unavailable("no cgroup v2 hierarchy is mounted (found none in \(proc.path)/self/mountinfo)"))
    }

    @Test func aConfiguredBaseThatIsNoCgroupIsRefusedWithTheReason() throws {
        let dir = try Paths.temporaryDirectory("orchion-notcg")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            CgroupSupport.detect(base: dir.path)
                == .unavailable("\(dir.path) is not a cgroup v2 directory (it has no cgroup.controllers)"))
    }

    @Test func withoutCgroupsAJobRunsAndItsReasonSaysTheLimitsWereNotEnforced() async throws {
        let harness = try await RunnerHarness(cgroups: .off)
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(
                spec: JobSpec(id: "nolimit", command: "true", requirements: JobRequirements(memoryBytes: 64 << 20))))
        #expect(run.report.outcome.verdict == .succeeded)
        #expect(run.report.cgroup == nil)
        #expect(run.report.limitsNotEnforced == "cgroups are turned off in the agent's configuration")
        #expect(
            run.report.outcome.reason
                == "exited with code 0 (limits not enforced: cgroups are turned off in the agent's configuration)")
        #expect(harness.log.lines.withLock { $0 }.contains { $0.hasPrefix("jobs run without cgroup limits") })
    }

    @Test(.enabled(if: cgroupsWritable, "needs a writable cgroup v2 subtree: \(support)"))
    func aJobRunsInsideItsOwnCgroupWhichIsRemovedAfter() async throws {
        let harness = try await RunnerHarness(cgroups: .detect)
        defer { try? harness.shutdown() }
        let id = "incg-\(getpid())"
        let run = try await harness.run(
            JobAssignment(
                spec: JobSpec(
                    id: id, command: "grep '^0::' /proc/self/cgroup",
                    requirements: JobRequirements(cpuMillis: 500, memoryBytes: 256 << 20)), attempt: 2))
        #expect(run.report.outcome.verdict == .succeeded, "\(run.report.outcome.reason) \(run.text(.stderr))")
        #expect(run.text(.stdout).hasSuffix("/orchion-\(id)-2\n"), "\(run.text(.stdout))")
        let path = try #require(run.report.cgroup?.path)
        #expect(path.hasSuffix("/orchion-\(id)-2"))
        #expect(!FileManager.default.fileExists(atPath: path), "the attempt's cgroup is removed")
        #expect(run.report.usage?.cpuMicros != nil)
        if case .available(let base) = support {
            #expect(run.report.cgroup?.memoryMax == (base.memory ? 256 << 20 : 0))
            #expect(run.report.cgroup?.cpuMax == (base.cpu ? "50000 100000" : nil))
            #expect((run.report.limitsNotEnforced == nil) == (base.memory && base.cpu))
        }
    }

    @Test(.enabled(if: cgroupsWritable, "needs a writable cgroup v2 subtree: \(support)"))
    func aProcessThatLeftTheGroupIsStillStoppedThroughTheCgroup() async throws {
        let harness = try await RunnerHarness(cgroups: .detect)
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "cgescape-\(getpid())", command: "setsid sleep 1000 & sleep 0.2; echo $!")))
        let pid = Int32(run.text(.stdout).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(pid != nil)
        if let pid {
            #expect(await eventually(within: 5_000) { processIsGone(pid) }, "cgroup.kill reached sleep \(pid)")
            kill(pid, SIGKILL)
        }
        #expect(run.report.outcome.verdict == .succeeded)
    }

    @Test(.enabled(if: cgroupsWritable, "needs a writable cgroup v2 subtree: \(support)"))
    func aProgramTheHelperCannotExecuteEndsWith127AndTheReasonOnStderr() async throws {
        let harness = try await RunnerHarness(cgroups: .detect)
        defer { try? harness.shutdown() }
        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "missing-\(getpid())", argv: ["/nonexistent/orchion-job"])))
        #expect(run.report.outcome.status == ExitStatus(code: 127, signal: 0))
        #expect(run.report.outcome.verdict == .failed)
        #expect(
            run.text(.stderr)
                == "orchion-spawn: cannot execute /nonexistent/orchion-job: No such file or directory\n")
    }

    @Test(.enabled(if: memoryControllerOn, "needs a cgroup v2 subtree with the memory controller: \(support)"))
    func aJobPastItsMemoryMaxIsKilledAndClassifiedSo() async throws {
        let harness = try await RunnerHarness(cgroups: .detect)
        defer { try? harness.shutdown() }
        // dd's 256 MiB buffer, filled from /dev/zero, against a 64 MiB limit.
        let run = try await harness.run(
            JobAssignment(
                spec: JobSpec(
                    id: "oom-\(getpid())", argv: ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"],
                    requirements: JobRequirements(memoryBytes: 64 << 20))))
        #expect(run.report.outcome.status.signal == SIGKILL, "\(run.report.outcome.status) \(run.text(.stderr))")
        #expect(run.report.outcome.stoppedBy == .memoryLimit)
        #expect(run.report.outcome.verdict == .failed)
        #expect(run.report.outcome.reason == "killed at its memory limit (67108864 bytes granted)")
        #expect((run.report.usage?.oomKills ?? 0) >= 1)
    }
}
