import OrchionAgent
import OrchionProto

/// A running attempt whose usage the next heartbeat reports: its cgroup
/// directory when it has one, else its process group.
///
/// Threading: a value; safe anywhere.
struct MeteredAttempt: Sendable {
    let key: AttemptKey
    let cgroup: String?
    let processGroup: Int32
}

/// Per-job CPU and memory for the heartbeats: reads each running attempt's
/// usage (`JobUsage`: cgroup v2, else one `/proc` scan for all process
/// groups) and turns cumulative CPU time into cores busy since the previous
/// reading of that attempt. Forgets attempts no longer running.
///
/// Threading: blocking file reads; call `measure` off the loop thread, one
/// caller at a time (the heartbeat task).
struct JobUsageMeter {
    private var previous: [AttemptKey: (cpuMicros: UInt64, atMillis: UInt64)] = [:]
    private let root: HostRoot

    init(root: HostRoot = HostRoot()) { self.root = root }

    /// The usage of `attempts` at `nowMillis` (monotonic), in their order.
    mutating func measure(_ attempts: [MeteredAttempt], nowMillis: UInt64) -> [Orchion_V1_JobUsage] {
        var readings: [AttemptKey: JobUsage] = [:]
        var byGroup: [Int32: AttemptKey] = [:]
        for attempt in attempts {
            if let cgroup = attempt.cgroup, let usage = try? JobUsage.cgroup(cgroup, root: root) {
                readings[attempt.key] = usage
            } else if attempt.processGroup > 0 {
                byGroup[attempt.processGroup] = attempt.key
            }
        }
        for (group, usage) in JobUsage.processGroups(Set(byGroup.keys), root: root) {
            if let key = byGroup[group] { readings[key] = usage }
        }
        var next: [AttemptKey: (cpuMicros: UInt64, atMillis: UInt64)] = [:]
        let report = attempts.compactMap { attempt -> Orchion_V1_JobUsage? in
            guard let usage = readings[attempt.key] else { return nil }
            next[attempt.key] = (usage.cpuMicros, nowMillis)
            var message = Orchion_V1_JobUsage()
            message.jobID = attempt.key.jobID
            message.attempt = attempt.key.attempt
            message.cpuMicros = usage.cpuMicros
            message.memoryBytes = usage.memoryBytes
            message.source = usage.source.rawValue
            if let before = previous[attempt.key], nowMillis > before.atMillis, usage.cpuMicros >= before.cpuMicros {
                let busy = Double(usage.cpuMicros - before.cpuMicros) / 1_000
                message.cpuCores = busy / Double(nowMillis - before.atMillis)
            }
            return message
        }
        previous = next
        return report
    }
}
