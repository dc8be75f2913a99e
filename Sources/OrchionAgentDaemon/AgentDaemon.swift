import Glibc
import OrchionAgent
import OrchionAgentProto
import OrchionCore
import OrchionLoop
import OrchionMapping
import OrchionProto
import Synchronization

import struct FoundationEssentials.Data

/// The service manager's hooks (systemd's `sd_notify`), when it runs the agent.
///
/// Threading: a value; `send` may be called from any thread.
public struct ServiceNotifier: Sendable {
    public let send: @Sendable (String) -> Void
    /// Half of this, `WATCHDOG=1` is sent (nil: no watchdog).
    public let watchdogMillis: UInt64?

    public init(send: @escaping @Sendable (String) -> Void, watchdogMillis: UInt64?) {
        self.send = send
        self.watchdogMillis = watchdogMillis
    }
}

/// What the daemon and its connection task share across threads.
///
/// Threading: any thread.
final class DaemonShared: Sendable {
    /// The server's heartbeat interval.
    let heartbeatMillis = Atomic<UInt64>(5_000)
    let stopping = Atomic<Bool>(false)
    private let sampler: Mutex<TelemetrySampler>
    private let meter = Mutex(JobUsageMeter())

    init(sampler: TelemetrySampler) { self.sampler = Mutex(sampler) }

    /// A telemetry sample of the host and of `attempts`. Blocking: call off the loop.
    func telemetry(_ attempts: [MeteredAttempt]) -> Orchion_V1_Telemetry {
        var telemetry = Orchion_V1_Telemetry(sampler.withLock { $0.sample() })
        telemetry.jobs = meter.withLock { $0.measure(attempts, nowMillis: monotonicMillis()) }
        return telemetry
    }
}

/// `orchion agent run` on its loop: accepts the server's assignments and
/// runs each (job, attempt) once with `JobRunner`, reports their states,
/// output and ends through the `Outbox`, stops them on cancel, and keeps
/// what must survive a crash in the `AgentJournal`. The stream to the
/// server is `AgentConnection`'s (a task on the loop).
///
/// Threading: loop thread only.
public final class AgentDaemon {
    /// One attempt this agent accepted.
    final class Attempt {
        enum Phase {
            /// Its acceptance is being written to the journal.
            case accepting
            /// Accepted; the runner is starting it.
            case starting
            case running
            case ended(Orchion_V1_JobEvent)
        }

        let key: AttemptKey
        var phase: Phase
        var runner: JobRunner?
        var pid: Int32 = 0
        /// Set when a cancel arrived; the grace it asked for (nil: the default).
        var cancel: UInt64??
        /// Stopped because the agent shuts down, not by a user's cancel: it
        /// ends LOST (retried by the server), not CANCELLED.
        var stoppedForShutdown = false

        init(_ key: AttemptKey, phase: Phase) {
            self.key = key
            self.phase = phase
        }

        var ended: Bool {
            if case .ended = phase { return true }
            return false
        }
    }

    let loop: EventLoop
    let settings: AgentSettings
    let runtime: ExecutionRuntime
    let journal: AgentJournal
    let journalWorker: SerialWorker
    let outbox: Outbox
    let shared: DaemonShared
    private let registration: Orchion_V1_Register
    private let notifier: ServiceNotifier?
    private let logLine: @Sendable (String) -> Void
    private var attempts: [AttemptKey: Attempt] = [:]
    private var stream: Int?
    private var readySent = false
    private var timers: [Timer] = []
    private var signals: SignalWatcher?
    private var connection: Task<Void, Never>?
    private var stopping = false
    /// Stopping because the server does not let this node in (`refused`).
    private var refusedIn = false
    private var stopped: (() -> Void)?
    /// The process's exit status once stopped: 0, or
    /// `AgentProcess.refusedExitStatus` after `refused`.
    private(set) var exitStatus: Int32 = 0
    private var deliveredSinceCompaction = 0

    /// Makes the daemon from what `AgentProcess` prepared; call `start` next.
    init(
        loop: EventLoop, settings: AgentSettings, runtime: ExecutionRuntime, journal: AgentJournal,
        journalWorker: SerialWorker, recovered: AgentJournal.Recovered, registration: Orchion_V1_Register,
        sampler: TelemetrySampler, notifier: ServiceNotifier?, log: @escaping @Sendable (String) -> Void
    ) {
        self.loop = loop
        self.settings = settings
        self.runtime = runtime
        self.journal = journal
        self.journalWorker = journalWorker
        self.registration = registration
        self.notifier = notifier
        self.logLine = log
        shared = DaemonShared(sampler: sampler)
        outbox = Outbox(spoolLimitBytes: settings.spoolLimitBytes, confirmMillis: settings.confirmMillis)
        for (key, state) in recovered.attempts {
            if case .ended(let event) = state { attempts[key] = Attempt(key, phase: .ended(event)) }
        }
        for pending in recovered.pending {
            outbox.addJournaled(
                sequence: pending.sequence, key: pending.key, outputBytes: pending.outputBytes, isEnd: pending.isEnd)
        }
        outbox.onDelivered = { [unowned self] sequences in delivered(sequences) }
        outbox.onResume = { [unowned self] in
            for attempt in attempts.values { attempt.runner?.resumeOutput() }
        }
    }

    func log(_ line: String) { logLine(line) }

    /// Starts the connection, the confirmation timer, the watchdog and the
    /// signal handling; `stopped` runs once the daemon has stopped (SIGTERM
    /// or SIGINT).
    func start(stopped: @escaping () -> Void) throws(LoopError) {
        self.stopped = stopped
        let confirm = try Timer(loop: loop)
        confirmTimer = confirm
        timers.append(confirm)
        if let notifier, let watchdog = notifier.watchdogMillis, watchdog > 0 {
            let timer = try Timer(loop: loop)
            let every = max(watchdog / 2, 1)
            timer.start(after: every, repeat: every) { notifier.send("WATCHDOG=1") }
            timers.append(timer)
        }
        let signals = try SignalWatcher(loop: loop)
        try signals.start(SIGTERM) { [unowned self] _ in shutdown() }
        self.signals = signals
        let interrupt = try SignalWatcher(loop: loop)
        try interrupt.start(SIGINT) { [unowned self] _ in shutdown() }
        self.interrupt = interrupt
        let connection = AgentConnection(
            daemon: LoopBound(self, loop: loop), loop: loop, settings: settings, shared: shared, journal: journal,
            journalWorker: journalWorker)
        self.connection = Task(executorPreference: loop) { await connection.run() }
        notifier?.send("STATUS=connecting to \(settings.server)")
    }

    private var interrupt: SignalWatcher?
    /// Armed only while sent messages wait for confirmation (an idle agent
    /// wakes for heartbeats alone).
    private var confirmTimer: Timer?
    private var confirmArmed = false

    /// The sender's `send` returned for these messages on stream `serial`.
    func sent(_ ids: [UInt64], on serial: Int, at now: UInt64) {
        outbox.sent(ids, on: serial, at: now)
        armConfirm()
    }

    private func armConfirm() {
        guard !confirmArmed, outbox.hasUnconfirmed, let confirmTimer else { return }
        confirmArmed = true
        confirmTimer.start(after: settings.confirmMillis + 20) { [unowned self] in
            confirmArmed = false
            outbox.confirm(now: monotonicMillis())
            armConfirm()
        }
    }

    // MARK: The stream

    /// The attempts running now, for the heartbeat's per-job usage.
    func meteredAttempts() -> [MeteredAttempt] {
        attempts.values.compactMap { attempt in
            guard case .running = attempt.phase, let runner = attempt.runner, let group = runner.pid else { return nil }
            return MeteredAttempt(key: attempt.key, cgroup: runner.cgroupPath, processGroup: group)
        }
    }

    /// The first message of a stream: the inventory and the jobs still running.
    func registerMessage() -> Orchion_V1_AgentMessage {
        var register = registration
        register.running = attempts.values.filter { !$0.ended }.sorted { $0.key.description < $1.key.description }
            .map { attempt in
                .with {
                    $0.jobID = attempt.key.jobID
                    $0.attempt = attempt.key.attempt
                    $0.pid = attempt.pid
                }
            }
        return .with { $0.register = register }
    }

    /// The server answered `Registered` on stream `serial`.
    func connected(_ registered: Orchion_V1_Registered, serial: Int, wake: @escaping @Sendable () -> Void) {
        stream = serial
        if registered.hasHeartbeatInterval {
            shared.heartbeatMillis.store(
                max(registered.heartbeatInterval.millis, 50), ordering: .relaxed)
        }
        let stop = Set(registered.stopJobIds)
        for attempt in attempts.values where stop.contains(attempt.key.jobID) && !attempt.ended {
            log("stopping \(attempt.key): the server does not expect it to run")
            cancel(attempt, grace: nil)
        }
        outbox.opened(serial, wake: wake)
        log("connected to \(settings.server) as node \(settings.nodeID)")
        if !readySent {
            readySent = true
            notifier?.send("READY=1")
        }
        notifier?.send("STATUS=connected to \(settings.server) as node \(settings.nodeID)")
    }

    /// Stream `serial` ended (or never registered).
    func disconnected(_ serial: Int, reason: String) {
        if stream == serial {
            stream = nil
            log("disconnected from \(settings.server): \(reason)")
            notifier?.send("STATUS=disconnected from \(settings.server): \(reason); reconnecting")
        }
        for entry in outbox.closed(serial) { spool(entry) }
    }

    /// A message from the server on stream `serial`.
    func handle(_ message: Orchion_V1_ServerMessage, serial: Int) {
        guard stream == serial else { return }
        switch message.body {
        case .assignment(let assignment)?: assign(assignment)
        case .cancel(let cancel)?: cancelRequested(cancel)
        case .config(let config)?:
            if config.hasHeartbeatInterval {
                shared.heartbeatMillis.store(max(config.heartbeatInterval.millis, 50), ordering: .relaxed)
            }
        case .registered?: log("ignored a second Registered on one stream")
        case nil: break
        }
    }

    // MARK: Assignments

    private func assign(_ assignment: Orchion_V1_Assignment) {
        let key = AttemptKey(assignment.job.id, assignment.attempt)
        if let attempt = attempts[key] { return acknowledge(attempt) }
        guard !stopping else {
            // Sent before the server read our Leaving: it retries the job elsewhere.
            var event = event(for: key, .lost)
            event.reason = "the agent on \(settings.nodeID) is shutting down"
            return outbox.add(.with { $0.jobEvent = event }, key: key)
        }
        let spec = JobSpec(assignment.job.spec, id: assignment.job.id)
        let attempt = Attempt(key, phase: .accepting)
        attempts[key] = attempt
        do throws(JobSpecError) {
            try spec.validate()
        } catch {
            return end(attempt, state: .failed, reason: "the assignment's job spec is invalid: \(error)")
        }
        let journal = self.journal
        journalWorker.submit(
            { try journal.accepted(key) }, on: loop,
            then: { [self] result in
                switch result {
                case .failure(let error):
                    end(attempt, state: .failed, reason: "cannot record the attempt: \(error)", retryable: true)
                case .success:
                    if attempt.cancel != nil { return endStopped(attempt, reason: "cancelled before it started") }
                    attempt.phase = .starting
                    event(attempt.key, .scheduled)
                    run(attempt, JobAssignment(spec: spec, attempt: key.attempt, gpus: assignment.gpuIndices))
                }
            })
    }

    private func run(_ attempt: Attempt, _ assignment: JobAssignment) {
        let key = attempt.key
        JobRunner.start(
            loop: loop, runtime: runtime, assignment: assignment,
            onOutput: { [unowned self] chunk in output(key, chunk) },
            started: { [self] result in
                switch result {
                case .failure(let error):
                    end(attempt, state: .failed, reason: "could not start: \(error)")
                case .success(let runner):
                    attempt.runner = runner
                    attempt.phase = .running
                    attempt.pid = runner.pid ?? 0
                    let pid = attempt.pid
                    let journal = self.journal
                    journalWorker.submit({ try journal.started(key, pid: pid) }, on: loop, then: { _ in })
                    event(key, .running)
                    if let grace = attempt.cancel { runner.cancel(graceMillis: grace) }
                }
            },
            completion: { [self] report in
                attempt.runner = nil
                let outcome = report.outcome
                let state = outcome.state
                if state == .cancelled {
                    return endStopped(
                        attempt, reason: outcome.reason, exitCode: outcome.status.code, signal: outcome.status.signal)
                }
                end(
                    attempt, state: state, reason: outcome.reason, exitCode: outcome.status.code,
                    signal: outcome.status.signal, retryable: state == .failed && outcome.verdict == .retryable,
                    timedOut: outcome.timedOut)
            })
    }

    /// Ends an attempt the agent stopped: CANCELLED when a user asked, LOST
    /// when the agent's own shutdown stopped it.
    private func endStopped(_ attempt: Attempt, reason: String, exitCode: Int64 = 0, signal: Int32 = 0) {
        let shutdown = attempt.stoppedForShutdown
        end(
            attempt, state: shutdown ? .lost : .cancelled,
            reason: shutdown ? "the agent on \(settings.nodeID) shut down and stopped it (\(reason))" : reason,
            exitCode: exitCode, signal: signal)
    }

    /// Answers a redelivered assignment with the attempt's state.
    private func acknowledge(_ attempt: Attempt) {
        switch attempt.phase {
        case .accepting: break  // SCHEDULED follows once it is recorded
        case .starting: event(attempt.key, .scheduled)
        case .running: event(attempt.key, .running)
        case .ended(let event): outbox.add(.with { $0.jobEvent = event }, key: attempt.key)
        }
    }

    private func cancelRequested(_ cancel: Orchion_V1_Cancel) {
        let key = AttemptKey(cancel.jobID, cancel.attempt)
        let grace = cancel.hasGrace ? cancel.grace.millis : nil
        guard let attempt = attempts[key] else {
            // Never ran here: its end is that it was cancelled.
            var event = self.event(for: key, .cancelled)
            event.reason = "cancelled before it reached this agent: \(cancel.reason)"
            outbox.add(.with { $0.jobEvent = event }, key: key)
            return
        }
        if case .ended(let event) = attempt.phase {
            outbox.add(.with { $0.jobEvent = event }, key: key)
            return
        }
        log("cancelling \(key): \(cancel.reason)")
        self.cancel(attempt, grace: grace)
    }

    private func cancel(_ attempt: Attempt, grace: UInt64?) {
        attempt.cancel = .some(grace)
        attempt.runner?.cancel(graceMillis: grace)
    }

    // MARK: Events and output

    private func event(for key: AttemptKey, _ state: Orchion_V1_JobState) -> Orchion_V1_JobEvent {
        .with {
            $0.jobID = key.jobID
            $0.attempt = key.attempt
            $0.state = state
            $0.nodeID = settings.nodeID
            $0.at = wallClock()
        }
    }

    private func event(_ key: AttemptKey, _ state: Orchion_V1_JobState) {
        let event = event(for: key, state)
        outbox.add(.with { $0.jobEvent = event }, key: key)
    }

    /// Ends `attempt`: its end event goes to the journal (fsynced) and then,
    /// in order after its output, to the server.
    private func end(
        _ attempt: Attempt, state: JobState, reason: String, exitCode: Int64 = 0, signal: Int32 = 0,
        retryable: Bool = false, timedOut: Bool = false
    ) {
        var event = event(for: attempt.key, state.proto)
        event.reason = reason
        event.exitCode = exitCode
        event.signal = signal
        event.retryable = retryable
        event.timedOut = timedOut
        attempt.phase = .ended(event)
        attempt.runner = nil
        let entry = outbox.addPending(.with { $0.jobEvent = event }, key: attempt.key, outputBytes: 0, isEnd: true)
        let journal = self.journal
        let record = event
        journalWorker.submit(
            { try journal.ended(record) }, on: loop,
            then: { [self] result in
                switch result {
                case .success(let sequence):
                    // Logged once kept: a kill from here on loses nothing.
                    log("\(attempt.key) \(state): \(reason)")
                    outbox.written(entry, sequence: sequence)
                case .failure(let error):
                    log("\(attempt.key) \(state): \(reason)")
                    log("cannot keep the end of \(attempt.key) in the journal (it is sent from memory): \(error)")
                    outbox.written(entry, sequence: nil)
                }
                finishStopIfDone()
            })
    }

    /// A piece of a job's output; false pauses the job's output.
    private func output(_ key: AttemptKey, _ chunk: OutputChunk) -> Bool {
        let log = Orchion_V1_LogChunk.with {
            $0.jobID = key.jobID
            $0.attempt = key.attempt
            $0.stream = chunk.stream == .stdout ? .stdout : .stderr
            $0.offset = chunk.offset
            $0.data = Data(chunk.bytes)
            $0.at = wallClock()
        }
        let message = Orchion_V1_AgentMessage.with { $0.logChunk = log }
        if stream != nil {
            outbox.addOutput(message, key: key, bytes: chunk.bytes.count)
        } else {
            let entry = outbox.addPending(message, key: key, outputBytes: chunk.bytes.count, isEnd: false)
            write(entry, log)
        }
        if outbox.shouldPause {
            outbox.notePaused()
            return false
        }
        return true
    }

    /// Moves an in-memory output entry to the journal (the server is away).
    private func spool(_ entry: Outbox.Entry) {
        guard case .logChunk(let chunk)? = entry.message?.body else { return }
        outbox.spooling(entry)
        write(entry, chunk)
    }

    private func write(_ entry: Outbox.Entry, _ chunk: Orchion_V1_LogChunk) {
        let journal = self.journal
        journalWorker.submit(
            { try journal.output(chunk) }, on: loop,
            then: { [self] result in
                switch result {
                case .success(let sequence): outbox.written(entry, sequence: sequence)
                case .failure(let error):
                    log("cannot spool output (kept in memory): \(error)")
                    outbox.written(entry, sequence: nil)
                }
            })
    }

    private func delivered(_ sequences: [UInt64]) {
        deliveredSinceCompaction += sequences.count
        let compact = deliveredSinceCompaction >= 1024
        if compact { deliveredSinceCompaction = 0 }
        let journal = self.journal
        journalWorker.submit(
            { () throws -> Void in
                try journal.delivered(sequences)
                if compact { try journal.compactIfUseful() }
            }, on: loop,
            then: { [self] result in
                if case .failure(let error) = result { log("cannot mark records delivered in the journal: \(error)") }
                finishStopIfDone()
            })
    }

    // MARK: Stopping

    /// What the connection tells the server first once the daemon stops.
    var leaving: Orchion_V1_Leaving? {
        guard stopping else { return nil }
        return .with {
            $0.reason = settings.stopJobsOnExit ? "stopping its jobs and exiting" : "exiting; jobs left running"
        }
    }

    /// The connection wrote `leaving` on its stream.
    func leavingSent() {
        guard stopping, !settings.stopJobsOnExit else { return }
        finishStop()
    }

    /// SIGTERM or SIGINT: stops the jobs when `stopJobsOnExit` (and waits,
    /// bounded, for their ends to be delivered), else leaves them running;
    /// then stops.
    func shutdown() {
        guard !stopping else { return }
        stopping = true
        shared.stopping.store(true, ordering: .relaxed)
        notifier?.send("STOPPING=1")
        let running = attempts.values.filter { !$0.ended }
        outbox.wake?()  // the sender says Leaving first
        if settings.stopJobsOnExit {
            log("stopping: stopping \(running.count) job(s)")
            for attempt in running {
                attempt.stoppedForShutdown = attempt.cancel == nil
                cancel(attempt, grace: nil)
            }
            if let timer = try? Timer(loop: loop) {
                let bound = runtime.settings.killGraceMillis + 5_000
                timer.start(after: bound) { [unowned self] in finishStop() }
                timers.append(timer)
            }
            finishStopIfDone()
        } else {
            if !running.isEmpty { log("stopping: leaving \(running.count) job(s) running") }
            // Once Leaving is written (`leavingSent`), or after a second.
            guard stream != nil, let timer = try? Timer(loop: loop) else { return finishStop() }
            timer.start(after: 1_000) { [unowned self] in finishStop() }
            timers.append(timer)
        }
    }

    /// The server does not let this node in (it was removed, or its
    /// credential replaced): logs `line` (why, and what to do), stops the
    /// jobs (the server gave them up and runs them elsewhere) and stops,
    /// with `AgentProcess.refusedExitStatus`. Nothing is delivered any
    /// more: the ends wait in the journal.
    func refused(_ line: String) {
        guard !stopping else { return }
        log(line)
        exitStatus = AgentProcess.refusedExitStatus
        refusedIn = true
        stopping = true
        shared.stopping.store(true, ordering: .relaxed)
        notifier?.send("STATUS=\(line)")
        notifier?.send("STOPPING=1")
        let running = attempts.values.filter { !$0.ended }
        if !running.isEmpty { log("stopping \(running.count) job(s)") }
        for attempt in running {
            attempt.stoppedForShutdown = attempt.cancel == nil
            cancel(attempt, grace: nil)
        }
        if let timer = try? Timer(loop: loop) {
            timer.start(after: runtime.settings.killGraceMillis + 5_000) { [unowned self] in finishStop() }
            timers.append(timer)
        }
        finishStopIfDone()
    }

    private func finishStopIfDone() {
        guard stopping, settings.stopJobsOnExit || refusedIn, attempts.values.allSatisfy(\.ended),
            outbox.isEmpty || refusedIn
        else { return }
        finishStop()
    }

    private func finishStop() {
        guard let stopped else { return }
        self.stopped = nil
        connection?.cancel()
        for timer in timers { timer.close() }
        timers = []
        signals?.close()
        interrupt?.close()
        stopped()
    }
}
