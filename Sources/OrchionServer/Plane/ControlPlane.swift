import OrchionControl
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import OrchionProto
import OrchionWire

#if canImport(Glibc)
    import Glibc
#endif

/// The cluster's state and the one place it changes: jobs, nodes, the
/// queue, the event stream, agent sessions, and the staging of every change
/// for the store.
///
/// Lifecycles are the pure machines of OrchionControl; this class feeds them
/// inputs and runs their effects: store writes (grouped per loop turn, one
/// transaction each, on the store's writer thread), assignments and cancels
/// down agent streams (after the commit that made them durable), events,
/// resource bookkeeping on nodes, and the scheduling loop.
///
/// Threading: loop thread only.
final class ControlPlane {
    let loop: EventLoop
    var settings: PlaneSettings
    let store: StateStore
    let scheduling: SchedulingService
    let now: () -> Millis

    // Jobs
    var jobs: [String: JobRecord] = [:]
    /// Job ids in submission order, for listing.
    var jobOrder: [String] = []
    var requestIndex: [String: String] = [:]
    var nextOrder: UInt64 = 1
    var queue = JobQueue()
    var parked = ParkedJobs()
    /// While set, rounds that placed nothing offer the nodes' room to the
    /// jobs parked before this `ParkedJobs.sequence` (see `wakeParkedJobs`).
    var parkedRetry: UInt64?
    var parkedRetryDue = false
    /// Pending jobs waiting out a retry backoff, by due time.
    var retries: [(due: Millis, id: String)] = []
    var retryTimer: Timer?

    // Nodes
    var nodes: [String: NodeEntry] = [:]
    /// Jobs whose active attempt is on each node.
    var nodeJobs: [String: Set<String>] = [:]
    var sessions: [String: AgentSession] = [:]
    var healthTimer: Timer?
    /// Nodes whose resources or state changed since parked jobs were last woken.
    var changedNodes: Set<String> = []
    /// The base heartbeat interval agents were last given.
    var announcedInterval: Duration
    /// The SHA-256 of each node's current credential.
    var nodeCredentials: [String: [UInt8]] = [:]
    /// Removed nodes (tombstones) and the SHA-256 of their last credential
    /// (empty when they never got one).
    var removedNodes: [String: [UInt8]] = [:]
    /// Told of every credential change (set by the server).
    var authenticator: Authenticator?

    // Events and listings
    let events: EventLog
    /// Event numbers up to this one are reserved in the store.
    var reservedSequence: UInt64
    var nodeListing: Orchion_V1_ListNodesResponse?
    var nodeListingAt: Millis = 0
    var nodeListingStale = false
    /// Job listing pages served since the last job change, by request.
    var jobPages: [Orchion_V1_ListJobsRequest: Orchion_V1_ListJobsResponse] = [:]

    // Store staging
    var staged: [StoreChange] = []
    var afterCommit: [() -> Void] = []
    var flushQueued = false

    // Scheduling
    /// Keeps the strategies in step with the plugin directories (set by the server).
    var catalog: StrategyCatalog?
    var schedulingInFlight = false
    var schedulingQueued = false

    let metrics: ServerMetrics
    /// Job output, per attempt (set by the server once the loop runs).
    var logs: LogStore?

    init(
        loop: EventLoop, settings: PlaneSettings, store: StateStore, stored: StoredState,
        scheduling: SchedulingService, metrics: ServerMetrics, now: @escaping () -> Millis = wallClockMillis
    ) throws {
        self.metrics = metrics
        self.loop = loop
        self.settings = settings
        self.store = store
        self.scheduling = scheduling
        self.now = now
        announcedInterval = settings.heartbeat.interval(nodes: 0)
        reservedSequence = stored.meta[Self.reservedSequenceKey].flatMap { UInt64($0) } ?? 0
        events = EventLog(
            retained: try stored.events.map { try Orchion_V1_JobEvent(serializedBytes: $0.record) },
            resumeAfter: reservedSequence, retention: settings.eventRetention)
        try reload(stored)
        reloadCredentials(stored.nodeCredentials)
    }

    // MARK: Store staging

    /// Queues `change` for the next group commit (one per loop turn).
    func stage(_ change: StoreChange) {
        staged.append(change)
        queueFlush()
    }

    /// Runs `body` once everything staged so far is durable.
    func whenDurable(_ body: @escaping () -> Void) {
        afterCommit.append(body)
        queueFlush()
    }

    private func queueFlush() {
        guard !flushQueued else { return }
        flushQueued = true
        let plane = LoopBound(self, loop: loop)
        loop.execute { plane.wrapped.flush() }
    }

    private func flush() {
        flushQueued = false
        guard !staged.isEmpty || !afterCommit.isEmpty else { return }
        let changes = staged
        let done = LoopBound(afterCommit, loop: loop)
        staged = []
        afterCommit = []
        let plane = LoopBound(self, loop: loop)
        store.commit(changes) { result in
            plane.loop.execute {
                switch result {
                case .success(let report):
                    if report.firstOfTransaction {
                        plane.wrapped.metrics.storeCommitSeconds.observe(report.transactionSeconds)
                        plane.wrapped.metrics.storeCommitBatchSize.observe(Double(report.changes))
                    }
                    for body in done.wrapped { body() }
                case .failure(let error):
                    plane.wrapped.storeFailed(error)
                }
            }
        }
    }

    /// A commit failed: what was acknowledged is durable, what was not cannot
    /// be promised. Like PostgreSQL after a failed fsync, stop rather than
    /// go on with memory and disk disagreeing; a supervisor restarts the
    /// server from the durable state.
    private func storeFailed(_ error: StoreError) {
        ServerLog.error("the state store failed to commit (\(error)); stopping so a restart reloads durable state")
        exit(75)
    }

    // MARK: Events

    /// Numbers and keeps `change`, and stores it with the next commit.
    ///
    /// Watchers see an event before its commit is durable; so that a crash
    /// never makes the server hand a seen number to a different event, the
    /// numbers are reserved in the store a block ahead (`eventSequenceBlock`),
    /// and a restart resumes past the reservation. A crash leaves a gap.
    func record(_ change: JobChange) {
        let event = events.append(change)
        if let bytes = try? event.serializedBytes() as [UInt8] {
            stage(.putEvent(StoredEvent(sequence: event.sequence, jobID: event.jobID, record: bytes)))
        }
        if event.sequence + settings.eventSequenceBlock / 2 >= reservedSequence {
            reservedSequence = event.sequence + settings.eventSequenceBlock
            stage(.setMeta(Self.reservedSequenceKey, String(reservedSequence)))
        }
    }

    static let reservedSequenceKey = "event_sequence_reserved"
}

/// The wall clock in seconds since the Unix epoch, to the nanosecond.
func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The wall clock in milliseconds since the Unix epoch.
func wallClockMillis() -> Millis {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Millis(now.tv_sec) * 1000 + Millis(now.tv_nsec / 1_000_000)
}

extension ControlPlane {
    /// Ends every stream and timer, then stops the loop once the last commit is durable.
    func shutdown() {
        events.finishAll()
        logs?.close()
        for session in sessions.values { session.close() }
        healthTimer?.close()
        retryTimer?.close()
        let loop = self.loop
        whenDurable { loop.stop() }
    }
}
