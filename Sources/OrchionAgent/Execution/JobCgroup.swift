import Glibc

/// The cgroup v2 of one attempt, `<base>/orchion-<job>-<attempt>`, made
/// with its limits before the process starts; the process joins it itself
/// (through `orchion-spawn -c`) before it execs the job.
///
/// Threading: every method blocks on cgroupfs (quickly, but it is file
/// I/O): call them off the event loop. The value is immutable and Sendable.
public struct JobCgroup: Sendable, Hashable {
    /// The cgroup's directory.
    public let path: String
    /// `memory.max` written, in bytes; 0 when none.
    public let memoryMax: UInt64
    /// `cpu.max` written ("QUOTA PERIOD"), or nil when none.
    public let cpuMax: String?

    /// The `cpu.max` period, in microseconds.
    static let cpuPeriod: UInt64 = 100_000

    /// The name of an attempt's cgroup: bytes outside `[A-Za-z0-9._-]` of
    /// the job id become `_`.
    static func name(job: String, attempt: UInt32) -> String {
        let safe = job.utf8.map { byte -> Character in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                Character(Unicode.Scalar(byte))
            default: "_"
            }
        }
        return "orchion-\(String(safe.prefix(200)))-\(attempt)"
    }

    /// `cpu.max` for `millis` thousandths of a CPU: quota and period in
    /// microseconds (the quota at least the kernel's 1 ms).
    static func cpuMax(millis: UInt64) -> String {
        let quota = millis.multipliedReportingOverflow(by: cpuPeriod / 1000)
        return "\(quota.overflow ? UInt64.max / 2 : max(quota.partialValue, 1000)) \(cpuPeriod)"
    }

    /// Makes the cgroup under `base` and writes its limits: `memory.max`
    /// (with `memory.swap.max` 0 and `memory.oom.group` 1, so the limit is
    /// real memory and an OOM kill takes the whole job) when `memoryBytes`
    /// > 0 and the base has the memory controller, `cpu.max` when
    /// `cpuMillis` > 0 and it has the cpu controller. A stale empty cgroup
    /// of the same name (an agent that died) is removed first.
    public static func create(
        base: CgroupBase, job: String, attempt: UInt32, memoryBytes: UInt64, cpuMillis: UInt64
    ) throws(JobRunnerError) -> JobCgroup {
        let path = base.path + "/" + name(job: job, attempt: attempt)
        if CgroupFiles.exists(path) { rmdir(path) }
        guard mkdir(path, 0o755) == 0 else {
            throw .cgroupFailed(path, "mkdir: \(CgroupFiles.describe(errno))")
        }
        func write(_ value: String, _ file: String) throws(JobRunnerError) {
            let status = CgroupFiles.write(value, to: path + "/" + file)
            guard status == 0 else {
                rmdir(path)
                throw .cgroupFailed(path, "writing '\(value)' to \(file): \(CgroupFiles.describe(status))")
            }
        }
        var cpuMax: String?
        if memoryBytes > 0 && base.memory {
            try write(String(memoryBytes), "memory.max")
            if CgroupFiles.exists(path + "/memory.swap.max") { try write("0", "memory.swap.max") }
            if CgroupFiles.exists(path + "/memory.oom.group") { try write("1", "memory.oom.group") }
        }
        if cpuMillis > 0 && base.cpu {
            let value = Self.cpuMax(millis: cpuMillis)
            try write(value, "cpu.max")
            cpuMax = value
        }
        return JobCgroup(path: path, memoryMax: memoryBytes > 0 && base.memory ? memoryBytes : 0, cpuMax: cpuMax)
    }

    /// What the attempt used, read from the cgroup.
    public func usage() -> CgroupUsage {
        let memoryEvents = CgroupFiles.read(path + "/memory.events")
        let peak = CgroupFiles.read(path + "/memory.peak").flatMap {
            UInt64($0.trimmingSuffix(while: \.isWhitespace))
        }
        return CgroupUsage(
            cpuMicros: CgroupFiles.value("usage_usec", in: CgroupFiles.read(path + "/cpu.stat")),
            memoryPeakBytes: peak,
            oomKills: CgroupFiles.value("oom_kill", in: memoryEvents) ?? 0)
    }

    /// Kills every process in the cgroup: `cgroup.kill` where the kernel has
    /// it (5.14+), else SIGKILL to each pid in `cgroup.procs`.
    public func killAll() {
        if CgroupFiles.exists(path + "/cgroup.kill"), CgroupFiles.write("1", to: path + "/cgroup.kill") == 0 { return }
        for line in (CgroupFiles.read(path + "/cgroup.procs") ?? "").split(separator: "\n") {
            if let pid = Int32(line), pid > 0 { kill(pid, SIGKILL) }
        }
    }

    /// Whether a process is still in the cgroup.
    public var populated: Bool {
        CgroupFiles.value("populated", in: CgroupFiles.read(path + "/cgroup.events")) != 0
    }

    /// Kills what is left, waits (at most `boundMillis`) until the cgroup
    /// is empty and removes it. Returns why it could not, or nil.
    public func remove(boundMillis: UInt64 = 2_000) -> String? {
        killAll()
        var waited: UInt64 = 0
        while populated && waited < boundMillis {
            usleep(5_000)
            waited += 5
        }
        guard rmdir(path) == 0 || errno == ENOENT else {
            return "cannot remove cgroup \(path): \(CgroupFiles.describe(errno))"
        }
        return nil
    }
}

/// What one attempt's cgroup counted.
///
/// Threading: a value; safe anywhere.
public struct CgroupUsage: Sendable, Hashable {
    /// CPU time, `cpu.stat` usage_usec.
    public let cpuMicros: UInt64?
    /// `memory.peak` (kernel 5.19+), when the memory controller is on.
    public let memoryPeakBytes: UInt64?
    /// `memory.events` oom_kill: processes the kernel killed at `memory.max`.
    public let oomKills: UInt64

    public init(cpuMicros: UInt64?, memoryPeakBytes: UInt64?, oomKills: UInt64) {
        self.cpuMicros = cpuMicros
        self.memoryPeakBytes = memoryPeakBytes
        self.oomKills = oomKills
    }
}

extension StringProtocol {
    /// The string without trailing characters matching `predicate`.
    func trimmingSuffix(while predicate: (Character) -> Bool) -> String {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return String(self[..<end])
    }
}
