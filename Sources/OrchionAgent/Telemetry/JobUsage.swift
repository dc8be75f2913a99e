import Glibc

/// What one job has used: CPU time so far and memory now. From the job's
/// cgroup v2 directory when it has one (`cpu.stat` usage_usec,
/// `memory.current`, `cgroup.procs`), else summed over its process group from
/// `/proc/<pid>/stat` (utime + stime + the reaped children's cutime +
/// cstime) and `/proc/<pid>/status` (VmRSS).
///
/// CPU time is cumulative: a rate is the difference of two readings over
/// the time between them.
///
/// Threading: a value; the readers block on file reads (a `/proc` scan
/// reads every process's `stat`): call them off the loop thread.
public struct JobUsage: Sendable, Hashable {
    /// CPU time used, user and system, in microseconds.
    public var cpuMicros: UInt64
    /// Memory in use, in bytes: the cgroup's charge (page cache included),
    /// or the processes' resident set sizes summed.
    public var memoryBytes: UInt64
    /// The processes counted, in ascending order.
    public var processIDs: [Int32]
    /// Where the numbers came from.
    public var source: Source

    /// Where a job's usage was read.
    public enum Source: String, Sendable, Hashable {
        case cgroup
        case proc
    }

    /// Creates a usage reading.
    public init(cpuMicros: UInt64, memoryBytes: UInt64, processIDs: [Int32], source: Source) {
        self.cpuMicros = cpuMicros
        self.memoryBytes = memoryBytes
        self.processIDs = processIDs
        self.source = source
    }

    /// The usage of the cgroup v2 directory `path` (a host path such as
    /// "/sys/fs/cgroup/orchion/job-7", read through `root`).
    public static func cgroup(_ path: String, root: HostRoot = HostRoot()) throws(JobUsageError) -> JobUsage {
        guard let stat = root.text(path + "/cpu.stat", limit: 64 << 10) else {
            throw .unreadable(file: root.resolve(path + "/cpu.stat"), expected: "a cgroup v2 cpu.stat")
        }
        var usage: UInt64?
        for line in stat.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == "usage_usec" { usage = UInt64(fields[1]) }
        }
        guard let usage else {
            throw .malformed(file: root.resolve(path + "/cpu.stat"), expected: "a usage_usec line", found: stat)
        }
        guard let memory = root.unsigned(path + "/memory.current") else {
            throw .unreadable(file: root.resolve(path + "/memory.current"), expected: "a byte count")
        }
        let processes = (root.text(path + "/cgroup.procs", limit: 1 << 20) ?? "").split(separator: "\n")
            .compactMap { Int32($0) }.sorted()
        return JobUsage(cpuMicros: usage, memoryBytes: memory, processIDs: processes, source: .cgroup)
    }

    /// The usage of the process group `group`, scanning `/proc` under `root`.
    /// A group with no process left reads as zero.
    public static func processGroup(
        _ group: Int32, root: HostRoot = HostRoot(), ticksPerSecond: Int = JobUsage.clockTicks
    ) -> JobUsage {
        processGroups([group], root: root, ticksPerSecond: ticksPerSecond)[group]
            ?? JobUsage(cpuMicros: 0, memoryBytes: 0, processIDs: [], source: .proc)
    }

    /// The usage of each of `groups`, from one scan of `/proc`.
    public static func processGroups(
        _ groups: Set<Int32>, root: HostRoot = HostRoot(), ticksPerSecond: Int = JobUsage.clockTicks
    ) -> [Int32: JobUsage] {
        var result: [Int32: JobUsage] = [:]
        for group in groups { result[group] = JobUsage(cpuMicros: 0, memoryBytes: 0, processIDs: [], source: .proc) }
        guard !groups.isEmpty else { return result }
        for name in root.entries("/proc") {
            guard let pid = Int32(name), pid > 0,
                let stat = root.text("/proc/" + name + "/stat", limit: 4096).flatMap(ProcessStat.init),
                groups.contains(stat.group), var usage = result[stat.group]
            else { continue }
            let micros = ticksToMicros(stat.cpuTicks, ticksPerSecond: ticksPerSecond)
            usage.cpuMicros = usage.cpuMicros.addingReportingOverflow(micros).partialValue
            let status = root.text("/proc/" + name + "/status", limit: 16 << 10) ?? ""
            let rss = KernelText.memInfoBytes(status, "VmRSS") ?? 0  // none for a zombie
            usage.memoryBytes = usage.memoryBytes.addingReportingOverflow(rss).partialValue
            usage.processIDs.append(pid)
            result[stat.group] = usage
        }
        for group in groups { result[group]?.processIDs.sort() }
        return result
    }

    /// From the cgroup when `cgroup` is given and readable, else from the process group.
    public static func read(
        cgroup: String?, processGroup group: Int32, root: HostRoot = HostRoot()
    ) -> JobUsage {
        if let cgroup, let usage = try? Self.cgroup(cgroup, root: root) { return usage }
        return processGroup(group, root: root)
    }

    /// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`; 100 on Linux).
    public static var clockTicks: Int {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? ticks : 100
    }

    private static func ticksToMicros(_ ticks: UInt64, ticksPerSecond: Int) -> UInt64 {
        let (scaled, overflow) = ticks.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return UInt64.max }
        return scaled / UInt64(max(1, ticksPerSecond))
    }
}

/// The fields of `/proc/<pid>/stat` a job's usage needs.
struct ProcessStat: Sendable, Hashable {
    /// The process group id.
    var group: Int32
    /// utime + stime + cutime + cstime, in clock ticks.
    var cpuTicks: UInt64

    /// Parses the line. The command name in parentheses may hold spaces
    /// and parentheses itself, so the fields are counted from the last ')'.
    init?(_ text: String) {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
        guard fields.count >= 15, let group = Int32(fields[2]) else { return nil }
        var ticks: UInt64 = 0
        for field in fields[11...14] {
            // cutime and cstime are signed in the kernel's format; negative never happens in practice.
            guard let value = UInt64(field) else { return nil }
            ticks = ticks.addingReportingOverflow(value).partialValue
        }
        self.group = group
        self.cpuTicks = ticks
    }
}

/// Why a job's cgroup could not be read.
public enum JobUsageError: Error, Hashable, CustomStringConvertible {
    case unreadable(file: String, expected: String)
    case malformed(file: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .unreadable(file, expected): "cannot read \(file): expected \(expected)"
        case let .malformed(file, expected, found): "\(file): expected \(expected), found '\(found.prefix(200))'"
        }
    }
}
