import Foundation
import OrchionAgent
import Testing

/// Per-job usage from cgroup v2 files, from `/proc` fixture files, and from
/// the live `/proc` of a real process group.
@Suite struct JobUsageTests {
    @Test func cgroupV2Files() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let group = "/sys/fs/cgroup/orchion.slice/job-7"
            try AgentFixtures.write(
                [
                    group + "/cpu.stat":
                        "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\nnr_throttled 0\n",
                    group + "/memory.current": "52428800\n",
                    group + "/cgroup.procs": "4250\n4242\n",
                ], under: directory)
            let root = HostRoot(directory.path)
            #expect(
                try JobUsage.cgroup(group, root: root)
                    == JobUsage(
                        cpuMicros: 1_234_567, memoryBytes: 52_428_800, processIDs: [4242, 4250], source: .cgroup))
            #expect(
                JobUsage.read(cgroup: group, processGroup: 4242, root: root).source == .cgroup)
        }
    }

    @Test func missingCgroupIsAnErrorAndReadFallsBackToProc() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/proc/300/stat": "300 (job) S 1 300 300 0 -1 4194560 10 0 0 0 7 3 0 0 20 0 1 0 500 0 0\n",
                    "/proc/300/status": "Name:\tjob\nVmRSS:\t     400 kB\n",
                ], under: directory)
            let root = HostRoot(directory.path)
            #expect(
                throws: JobUsageError.unreadable(
                    file: directory.path + "/sys/fs/cgroup/gone/cpu.stat", expected: "a cgroup v2 cpu.stat")
            ) { try JobUsage.cgroup("/sys/fs/cgroup/gone", root: root) }
            #expect(
                JobUsage.read(cgroup: "/sys/fs/cgroup/gone", processGroup: 300, root: root)
                    == JobUsage(cpuMicros: 100_000, memoryBytes: 400 * 1024, processIDs: [300], source: .proc))
        }
    }

    @Test func processGroupSumsItsMembersFromProcFiles() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            // utime stime cutime cstime are fields 14-17; pgrp is field 5.
            let stat = { (pid: Int, comm: String, group: Int, utime: Int, stime: Int, cutime: Int, cstime: Int) in
                "\(pid) (\(comm)) S 1 \(group) \(group) 0 -1 4194560 120 0 0 0 \(utime) \(stime) \(cutime) \(cstime) 20 0 1 0 900 0 0\n"
            }
            try AgentFixtures.write(
                [
                    "/proc/4242/stat": stat(4242, "sh", 4242, 10, 5, 20, 5),
                    "/proc/4242/status": "Name:\tsh\nVmRSS:\t    1024 kB\n",
                    // A command name with spaces and parentheses in it.
                    "/proc/4250/stat": stat(4250, "my (job) x", 4242, 150, 50, 0, 0),
                    "/proc/4250/status": "Name:\tmy (job) x\nVmRSS:\t  204800 kB\n",
                    // A zombie: no VmRSS.
                    "/proc/4251/stat": stat(4251, "done", 4242, 1, 1, 0, 0),
                    "/proc/4251/status": "Name:\tdone\nState:\tZ (zombie)\n",
                    // Another group, and files that are not processes.
                    "/proc/5000/stat": stat(5000, "other", 5000, 999, 999, 0, 0),
                    "/proc/5000/status": "VmRSS:\t 999 kB\n",
                    "/proc/6000/stat": "garbage\n",
                    "/proc/meminfo": "MemTotal: 1 kB\n",
                ], under: directory)
            let root = HostRoot(directory.path)
            // (10+5+20+5) + (150+50) + (1+1) = 242 ticks at 100 per second.
            #expect(
                JobUsage.processGroup(4242, root: root, ticksPerSecond: 100)
                    == JobUsage(
                        cpuMicros: 2_420_000, memoryBytes: (1024 + 204_800) * 1024, processIDs: [4242, 4250, 4251],
                        source: .proc))
            let both = JobUsage.processGroups([4242, 5000, 7000], root: root, ticksPerSecond: 100)
            #expect(
                both[5000]
                    == JobUsage(cpuMicros: 19_980_000, memoryBytes: 999 * 1024, processIDs: [5000], source: .proc))
            #expect(both[7000] == JobUsage(cpuMicros: 0, memoryBytes: 0, processIDs: [], source: .proc))
            #expect(both[4242]?.processIDs == [4242, 4250, 4251])
        }
    }

    @Test func liveProcessGroupOfARealChild() throws {
        // sh starts a busy loop and a sleep in its own process group: three processes.
        let child = try SpawnedGroup(["/bin/sh", "-c", "while :; do :; done & sleep 60 & wait"])
        defer { child.stop() }
        let deadline = Date().addingTimeInterval(20)
        var usage = JobUsage.processGroup(child.pid)
        while Date() < deadline, usage.processIDs.count < 3 || usage.cpuMicros < 50_000 {
            usleep(20_000)  // between polls of a bounded wait
            usage = JobUsage.processGroup(child.pid)
        }
        #expect(usage.processIDs.count == 3)
        #expect(usage.processIDs.contains(child.pid))
        #expect(usage.cpuMicros >= 50_000)
        #expect(usage.memoryBytes > 0)
        #expect(usage.source == .proc)
    }

    @Test(.enabled(if: ownCgroup() != nil, "this process's cgroup v2 directory has no readable memory.current"))
    func liveCgroupOfThisProcess() throws {
        let path = try #require(ownCgroup())
        let usage = try JobUsage.cgroup(path)
        #expect(usage.processIDs.contains(getpid()))
        #expect(usage.memoryBytes > 0)
        #expect(usage.cpuMicros > 0)
    }
}

/// This process's cgroup v2 directory, where it has `cpu.stat` and `memory.current`.
func ownCgroup() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
    else { return nil }
    let path = "/sys/fs/cgroup" + line.dropFirst(3)
    let files = ["cpu.stat", "memory.current", "cgroup.procs"]
    return files.allSatisfy { FileManager.default.isReadableFile(atPath: path + "/" + $0) } ? path : nil
}

/// A real process started in its own process group, killed with its whole group by `stop`.
final class SpawnedGroup {
    let pid: Int32

    init(_ arguments: [String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], nil, &attributes, argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
    }

    func stop() {
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
