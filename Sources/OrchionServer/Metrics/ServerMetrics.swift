import Glibc
import OrchionCore

/// The server's metrics, registered once, with a named property (or
/// accessor, for a labelled family) per metric so the code that updates
/// one does not look it up by name. `registry.render()` is the body of
/// `GET /metrics`.
///
/// Threading: any thread (see `Metrics`). Updates are lock-free; the
/// accessors that take a label (`nodes(_:)`, `pluginCallSeconds(_:)`...)
/// take a short mutex, so keep the child they return where it is hot.
public final class ServerMetrics: Sendable {
    /// The registry everything below is registered in.
    public let registry: Metrics

    /// `orchion_nodes{state}`: nodes per health state (set by the registry).
    public let nodes: MetricFamily<Gauge>
    /// `orchion_jobs{state}`: jobs per lifecycle state.
    public let jobs: MetricFamily<Gauge>
    /// `orchion_queue_depth`: jobs waiting to be placed (parked ones included).
    public let queueDepth: Gauge
    /// `orchion_jobs_parked`: pending jobs parked until capacity or constraints change.
    public let jobsParked: Gauge
    /// `orchion_jobs_submitted_total`: submissions acknowledged (durable).
    public let jobsSubmitted: Counter
    /// `orchion_scheduling_batch_seconds`: one scheduling batch, from taking
    /// the pending jobs to committing the placements.
    public let schedulingBatchSeconds: Histogram
    /// `orchion_scheduling_batch_size`: pending jobs per scheduling batch.
    public let schedulingBatchSize: Histogram
    /// `orchion_plugin_call_seconds{plugin}`: one strategy plugin call.
    public let pluginCallSeconds: MetricFamily<Histogram>
    /// `orchion_scheduling_fallbacks_total{strategy}`: batches that fell back
    /// from `strategy` (it failed, timed out or was quarantined).
    public let schedulingFallbacks: MetricFamily<Counter>
    /// `orchion_scheduling_fallback_failures_total`: batches the fallback
    /// strategy placed and still left jobs unplaced (or failed outright).
    public let schedulingFallbackFailures: Counter
    /// `orchion_plan_conflicts_total`: placements the plan applier refused
    /// because the node changed while the strategy ran (the job is retried).
    public let planConflicts: Counter
    /// `orchion_heartbeats_total`: heartbeats received (rate() gives heartbeats/s).
    public let heartbeats: Counter
    /// `orchion_heartbeat_lag_seconds`: from a heartbeat's telemetry sample
    /// time (the agent's clock) to the registry recording it.
    public let heartbeatLagSeconds: Histogram
    /// `orchion_agent_messages_ignored_total`: agent job events that named no
    /// attempt of theirs in progress (late, duplicated, or not theirs).
    public let agentMessagesIgnored: Counter
    /// `orchion_agent_streams`: agents connected over `AgentService.Connect`.
    public let agentStreams: Gauge
    /// `orchion_store_commit_seconds`: one group commit on the store's writer thread.
    public let storeCommitSeconds: Histogram
    /// `orchion_store_commit_batch_size`: writes per group commit.
    public let storeCommitBatchSize: Histogram
    /// `orchion_log_bytes_total{stream}`: job output bytes written to the logs.
    public let logBytes: MetricFamily<Counter>
    /// `orchion_log_dropped_bytes_total`: job output bytes dropped (over the
    /// per-attempt cap, or after a write error).
    public let logDroppedBytes: Counter
    /// `orchion_log_followers`: open log reads (follow or not).
    public let logFollowers: Gauge

    /// Registers every metric (and `process_cpu_seconds_total` and
    /// `process_resident_memory_bytes`, read at each scrape), with a zero series for each known node and
    /// job state so dashboards see them before the first change.
    public init() throws(MetricsError) {
        let registry = Metrics()
        self.registry = registry
        nodes = try registry.gauge("orchion_nodes", help: "Nodes by health state.", labels: ["state"])
        jobs = try registry.gauge("orchion_jobs", help: "Jobs by lifecycle state.", labels: ["state"])
        queueDepth = try registry.gauge("orchion_queue_depth", help: "Jobs waiting to be placed.")
        jobsParked = try registry.gauge(
            "orchion_jobs_parked", help: "Pending jobs parked until capacity or constraints change.")
        jobsSubmitted = try registry.counter(
            "orchion_jobs_submitted_total", help: "Job submissions acknowledged after they were durable.")
        schedulingBatchSeconds = try registry.histogram(
            "orchion_scheduling_batch_seconds", help: "Time to place one batch of pending jobs, commit included.")
        schedulingBatchSize = try registry.histogram(
            "orchion_scheduling_batch_size", help: "Pending jobs per scheduling batch.", buckets: Histogram.sizeBuckets)
        pluginCallSeconds = try registry.histogram(
            "orchion_plugin_call_seconds", help: "Time of one strategy plugin call.", labels: ["plugin"])
        schedulingFallbacks = try registry.counter(
            "orchion_scheduling_fallbacks_total", help: "Scheduling batches that fell back from a strategy.",
            labels: ["strategy"])
        schedulingFallbackFailures = try registry.counter(
            "orchion_scheduling_fallback_failures_total",
            help: "Scheduling batches the fallback strategy placed and still left jobs unplaced.")
        planConflicts = try registry.counter(
            "orchion_plan_conflicts_total", help: "Placements refused at commit because the node changed meanwhile.")
        heartbeats = try registry.counter("orchion_heartbeats_total", help: "Agent heartbeats received.")
        heartbeatLagSeconds = try registry.histogram(
            "orchion_heartbeat_lag_seconds", help: "Time from an agent's telemetry sample to the registry recording it."
        )
        agentMessagesIgnored = try registry.counter(
            "orchion_agent_messages_ignored_total",
            help: "Agent job events that named no attempt of theirs in progress.")
        agentStreams = try registry.gauge("orchion_agent_streams", help: "Agents connected.")
        storeCommitSeconds = try registry.histogram(
            "orchion_store_commit_seconds", help: "Time of one group commit of the durable store.")
        storeCommitBatchSize = try registry.histogram(
            "orchion_store_commit_batch_size", help: "Writes grouped into one store commit.",
            buckets: Histogram.sizeBuckets)
        logBytes = try registry.counter(
            "orchion_log_bytes_total", help: "Job output bytes written to the logs.", labels: ["stream"])
        logDroppedBytes = try registry.counter(
            "orchion_log_dropped_bytes_total", help: "Job output bytes dropped over the per-attempt cap.")
        logFollowers = try registry.gauge("orchion_log_followers", help: "Open job log reads.")
        // The process's own CPU time and memory, read at each scrape.
        try registry.counter(
            "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.",
            read: ProcessUsage.cpuSeconds)
        try registry.gauge(
            "process_resident_memory_bytes", help: "Resident memory size in bytes.", read: ProcessUsage.residentBytes)
        for state in NodeState.allCases { _ = nodes.child([state.rawValue]) }
        for state in JobState.allCases { _ = jobs.child([state.rawValue]) }
        for stream in OutputStream.allCases { _ = logBytes.child([stream.rawValue]) }
    }

    /// The gauge of nodes in `state`.
    public func nodes(_ state: NodeState) -> Gauge { nodes.child([state.rawValue]) }

    /// The gauge of jobs in `state`.
    public func jobs(_ state: JobState) -> Gauge { jobs.child([state.rawValue]) }

    /// The call-time histogram of the plugin named `plugin`.
    public func pluginCallSeconds(_ plugin: String) -> Histogram { pluginCallSeconds.child([plugin]) }

    /// The fallback counter of `strategy`.
    public func schedulingFallbacks(_ strategy: String) -> Counter { schedulingFallbacks.child([strategy]) }

    /// The written-bytes counter of `stream`.
    public func logBytes(_ stream: OutputStream) -> Counter { logBytes.child([stream.rawValue]) }
}

/// The process's own CPU time and resident memory. Reads `getrusage` and
/// `/proc/self/statm` (procfs: memory, never disk, so fine on the loop).
enum ProcessUsage {
    @Sendable static func cpuSeconds() -> Double? {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return nil }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    @Sendable static func residentBytes() -> Double? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let count = read(fd, &bytes, bytes.count)
        guard count > 0 else { return nil }
        // "size resident shared text lib data dt", in pages.
        let fields = bytes.prefix(count).split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Double(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}
