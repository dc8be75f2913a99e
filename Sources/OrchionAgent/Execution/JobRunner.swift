import Glibc
import OrchionCore
import OrchionLoop
import OrchionPluginHost

/// Runs one attempt of a job: asks its executor plugin for a launch, makes
/// the attempt's cgroup and looks its user up (off the loop), spawns it with
/// libuv in its own process group, streams its output with flow control,
/// enforces its timeout and cancellation, and reports the executor's
/// verdict once the process has exited, its pipes are closed and the
/// consumer has every byte.
///
/// Stopping (timeout or `cancel`): SIGTERM to the process group, then
/// SIGKILL to the group (and `cgroup.kill`) after `killGraceMillis`,
/// whether or not the job has a timeout. Once the main process has exited,
/// whatever it left in its group gets SIGTERM; after `exitGraceMillis` the
/// leftovers get SIGKILL and pipes still held open (by a process that left
/// the group) are closed, so an attempt always completes.
///
/// A runner keeps itself alive until `completion` has run.
///
/// Threading: loop thread only.
public final class JobRunner {
    /// How the runner reaches its executor.
    enum Executor {
        /// Called inline, on the loop thread (`orchion plugin check`).
        case inline(ExecutorPlugin)
        /// Called on the executor's own thread.
        case service(ExecutorService)

        var name: String {
            switch self {
            case .inline(let plugin): plugin.info.name
            case .service(let service): service.info.name
            }
        }
    }

    /// What is decided off the loop before the process starts.
    struct Plan: Sendable {
        var launch: Launch
        /// Set when the helper must switch to this account.
        var account: RunAsAccount?
        var cgroup: JobCgroup?
        /// The per-attempt working directory the runner made (and removes).
        var workDirectory: String?
        /// Why the job's memory and CPU limits are not enforced, when they are not.
        var limitsNote: String?
    }

    public let assignment: JobAssignment
    private let loop: EventLoop
    private let runtime: ExecutionRuntime
    private let executor: Executor
    private let completion: (AttemptReport) -> Void
    private let flow: OutputFlow
    private var plan: Plan?
    private var process: ChildProcess?
    private var group: Int32 = 0
    private var pipes: [OutputStream: Pipe] = [:]
    private var readingPaused = false
    private var timeoutTimer: Timer?
    private var killTimer: Timer?
    private var exitTimer: Timer?
    /// Rechecks, while leftovers of an exited job are being stopped, whether they are gone.
    private var leftoverPoll: Timer?
    private var stoppedBy: HostStop?
    private var exit: ExitStatus?
    private var leftovers = false
    private var checkingLeftovers = false
    private var outputDrained = false
    private var finishing = false
    private var notes: [String] = []

    private init(
        loop: EventLoop, runtime: ExecutionRuntime, executor: Executor, assignment: JobAssignment,
        onOutput: @escaping (OutputChunk) -> Bool, completion: @escaping (AttemptReport) -> Void
    ) {
        self.loop = loop
        self.runtime = runtime
        self.executor = executor
        self.assignment = assignment
        self.completion = completion
        let settings = runtime.settings
        flow = OutputFlow(
            loop: loop, worker: runtime.spillWorker, spillDirectory: settings.spillDirectory,
            memoryLimit: settings.outputMemoryBytes, spillBacklogLimit: settings.spillBacklogBytes,
            consumer: onOutput)
    }

    /// Starts `assignment` with the executor plugin its spec names (nil:
    /// "exec") from the runtime's catalog. The executor's `prepare` runs on
    /// its own thread, the user lookup and the cgroup's creation on the
    /// thread pool; the spawn on `loop`. `started` runs on the loop thread
    /// with the running job, or with why it could not start (an unknown
    /// executor, its refusal, an unknown user or one the runtime's
    /// `JobUserPolicy` refuses, a working directory, cgroup or spawn error;
    /// then nothing runs and `completion` is never called). `onOutput` gets every
    /// chunk of output in order (see `OutputChunk`) and returns false to
    /// pause until `resumeOutput()`. `completion` runs on the loop thread
    /// once the job finished, all its output was taken, and the executor —
    /// told whether the host stopped the job — has classified it. Call on
    /// the loop thread.
    public static func start(
        loop: EventLoop, runtime: ExecutionRuntime, assignment: JobAssignment,
        onOutput: @escaping (OutputChunk) -> Bool,
        started: @escaping (Result<JobRunner, any Error>) -> Void,
        completion: @escaping (AttemptReport) -> Void
    ) {
        loop.preconditionInLoopThread("JobRunner.start")
        let service: ExecutorService
        do {
            service = try runtime.executors.executor(named: assignment.spec.executor)
        } catch {
            return started(.failure(error))
        }
        let runner = JobRunner(
            loop: loop, runtime: runtime, executor: .service(service), assignment: assignment, onOutput: onOutput,
            completion: completion)
        let callbacks = LoopBound((runner, started), loop: loop)
        service.prepare(runner.preparedSpec, gpus: assignment.gpus) { prepared in
            _ = loop.execute {
                let (runner, started) = callbacks.wrapped
                switch prepared {
                case .success(let launch): runner.plan(launch, started: started)
                case .failure(let error): started(.failure(error))
                }
            }
        }
    }

    /// Like `start(loop:runtime:assignment:...)`, but with an executor
    /// instance called inline on the loop thread (for `orchion plugin
    /// check`, whose loop serves nothing else).
    public static func start(
        loop: EventLoop, runtime: ExecutionRuntime, executor: ExecutorPlugin, assignment: JobAssignment,
        onOutput: @escaping (OutputChunk) -> Bool,
        started: @escaping (Result<JobRunner, any Error>) -> Void,
        completion: @escaping (AttemptReport) -> Void
    ) {
        loop.preconditionInLoopThread("JobRunner.start")
        let runner = JobRunner(
            loop: loop, runtime: runtime, executor: .inline(executor), assignment: assignment, onOutput: onOutput,
            completion: completion)
        do {
            runner.plan(try executor.prepare(runner.preparedSpec, gpus: assignment.gpus), started: started)
        } catch {
            started(.failure(error))
        }
    }

    /// The process id (and process group id), while the main process runs.
    public var pid: Int32? { exit == nil && group > 0 ? group : nil }

    /// The attempt's cgroup directory, when it has one.
    public var cgroupPath: String? { plan?.cgroup?.path }

    /// The consumer can take output again after returning false.
    public func resumeOutput() { flow.resume() }

    /// Cancels the job: SIGTERM to its process group, SIGKILL after
    /// `graceMillis` (nil: the runtime's `killGraceMillis`; the server's
    /// `Cancel.grace`) — timeout or not. The executor is told the host
    /// stopped it. Once the main process has exited, it only hurries the
    /// leftovers (SIGKILL now). Idempotent.
    public func cancel(graceMillis: UInt64? = nil) { stop(.cancelled, grace: graceMillis) }

    // MARK: - Starting

    /// The spec the executor prepares: the assignment's, with the
    /// per-attempt working directory as its `cwd` when it names none and the
    /// runtime makes them (so `exec` starts the job there, its HOME too).
    var preparedSpec: JobSpec {
        var spec = assignment.spec
        if let work = runtime.workPath(for: assignment) { spec.cwd = work }
        return spec
    }

    /// Variables that carry the agent's (or its service manager's) secrets
    /// and channels: removed from every launch, whatever the executor put
    /// there, unless the job's own spec sets the same value. The join
    /// token and its file, client tokens and their file, systemd's
    /// credentials directory, notify socket, watchdog and passed sockets.
    public static let agentVariables: Set<String> = [
        "ORCHION_JOIN_TOKEN", "ORCHION_JOIN_TOKEN_FILE", "ORCHION_TOKEN", "ORCHION_CLIENT_TOKENS_FILE",
        "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
        "LISTEN_FDNAMES",
    ]

    /// The launch's environment (exactly that: nothing of the agent's is
    /// inherited) with the variables the agent owns set — the job's id and
    /// attempt, and the GPUs it may see (empty when it was granted none) —
    /// and without `agentVariables` the job did not set itself.
    static func environment(_ launch: Launch, assignment: JobAssignment) -> [String] {
        let gpus = assignment.gpus.map(String.init).joined(separator: ",")
        let owned: [(String, String)] = [
            ("ORCHION_JOB_ID", assignment.spec.id), ("ORCHION_ATTEMPT", String(assignment.attempt)),
            ("CUDA_VISIBLE_DEVICES", gpus), ("ROCR_VISIBLE_DEVICES", gpus),
        ]
        let keys = Set(owned.map { $0.0 + "=" })
        let spec = assignment.spec
        let kept = launch.environment.filter { entry in
            guard let equals = entry.firstIndex(of: "=") else { return false }
            let name = String(entry[..<equals])
            if agentVariables.contains(name) { return spec.env[name] == String(entry[entry.index(after: equals)...]) }
            return !keys.contains(name + "=")
        }
        return kept + owned.map { "\($0.0)=\($0.1)" }
    }

    /// Looks the user up and makes the cgroup on the thread pool, then spawns.
    private func plan(_ prepared: Launch, started: @escaping (Result<JobRunner, any Error>) -> Void) {
        var launch = prepared
        launch.environment = Self.environment(prepared, assignment: assignment)
        let support = runtime.cgroups
        let assignment = assignment
        let policy = runtime.settings.jobUsers
        let agentUID = runtime.agentUID
        let work = runtime.workPath(for: assignment)
        loop.queueWork(
            { [launch] () -> Result<Plan, JobRunnerError> in
                Result { () throws(JobRunnerError) -> Plan in
                    try Self.makePlan(
                        launch, assignment, support, users: policy, agentUID: agentUID, workDirectory: work)
                }
            },
            then: { [self] planned in
                switch planned {
                case .success(let plan):
                    do {
                        try spawn(plan)
                        started(.success(self))
                    } catch {
                        loop.queueWork({ _ = Self.cleanUp(plan) }, then: { _ in })
                        started(.failure(error))
                    }
                case .failure(let error):
                    started(.failure(error))
                }
            })
    }

    /// Off the loop: the account to switch to (the user the launch names,
    /// else the one the spec names, checked against `users`), the
    /// per-attempt working directory (when the launch starts in
    /// `workDirectory`) and the attempt's cgroup.
    static func makePlan(
        _ launch: Launch, _ assignment: JobAssignment, _ support: CgroupSupport, users: JobUserPolicy,
        agentUID: UInt32, workDirectory: String?
    ) throws(JobRunnerError) -> Plan {
        var plan = Plan(launch: launch)
        plan.account = try users.account(for: launch.user ?? assignment.spec.user, agentUID: agentUID)
        if let workDirectory, launch.workingDirectory == workDirectory {
            try WorkDirectory.make(workDirectory, owner: plan.account)
            plan.workDirectory = workDirectory
        }
        let resources = assignment.spec.requirements.resources
        let memory =
            launch.memoryLimitBytes > 0
            ? min(launch.memoryLimitBytes, resources.memoryBytes == 0 ? .max : resources.memoryBytes)
            : resources.memoryBytes
        switch support {
        case .unavailable(let reason):
            plan.limitsNote = reason
        case .available(let base):
            do {
                plan.cgroup = try JobCgroup.create(
                    base: base, job: assignment.spec.id, attempt: assignment.attempt, memoryBytes: memory,
                    cpuMillis: resources.cpuMillis)
            } catch {
                _ = cleanUp(plan)
                throw error
            }
            var missing: [String] = []
            if memory > 0 && !base.memory { missing.append("memory.max") }
            if resources.cpuMillis > 0 && !base.cpu { missing.append("cpu.max") }
            if !missing.isEmpty {
                plan.limitsNote = "\(missing.joined(separator: " and ")) not set: " + base.notes.joined(separator: "; ")
            }
        }
        return plan
    }

    /// Off the loop: removes the attempt's cgroup and working directory.
    /// Returns why they could not be, one line each.
    static func cleanUp(_ plan: Plan) -> [String] {
        var problems: [String] = []
        if let cgroup = plan.cgroup, let problem = cgroup.remove() { problems.append(problem) }
        if let work = plan.workDirectory, let problem = WorkDirectory.remove(work) { problems.append(problem) }
        return problems
    }

    /// argv for `orchion-spawn`, which closes every descriptor but the
    /// job's three (whatever an executor plugin opened without
    /// close-on-exec), joins the cgroup and switches users when the plan
    /// says so, and only then enters the job's working directory (`-d`) and
    /// takes its environment (`spawnOptions`): until it drops root, nothing
    /// the job chose reaches it.
    static func helperArguments(_ plan: Plan, helper: String) -> [String] {
        var arguments = [helper]
        if let cgroup = plan.cgroup { arguments += ["-c", cgroup.path] }
        if let account = plan.account {
            arguments += [
                "-G", account.groups.map(String.init).joined(separator: ","), "-g", String(account.gid), "-u",
                String(account.uid),
            ]
        }
        if let directory = plan.launch.workingDirectory { arguments += ["-d", directory] }
        return arguments + ["--", plan.launch.file] + plan.launch.arguments
    }

    /// What `orchion-spawn` finds each job variable behind in its own
    /// environment (`ORCHION_JOB:LD_PRELOAD=…`): a name no dynamic loader,
    /// tunable or libc reads while the helper is still root.
    static let helperVariablePrefix = "ORCHION_JOB:"

    /// How `plan` is spawned: through `orchion-spawn` at `helper` (nil when
    /// it is not installed), in the agent's own working directory (the
    /// job's is an argument), with the job's environment under names no
    /// loader or libc reads (`helperVariablePrefix` + `NAME=VALUE`), which
    /// the helper restores once it is the job's user; or, with no helper and
    /// nothing for one to do, the job itself directly.
    static func spawnOptions(_ plan: Plan, helper: String?) throws(JobRunnerError) -> ProcessOptions {
        var options: ProcessOptions
        if let helper {
            options = ProcessOptions(arguments: helperArguments(plan, helper: helper))
            // Not arguments: /proc/PID/cmdline is anyone's to read, environ
            // only its owner's (found by attack: other users read every
            // job's secrets from the helper's command line).
            options.environment = plan.launch.environment.map { helperVariablePrefix + $0 }
        } else {
            // Only a non-root agent gets here (a root one needs the helper to
            // start at all): the job runs as the agent, so its environment and
            // directory give it nothing; the agent's own descriptors are all
            // close-on-exec, a plugin's may not be.
            options = ProcessOptions(arguments: plan.launch.arguments)
            options.file = plan.launch.file
            options.environment = plan.launch.environment
            options.workingDirectory = plan.launch.workingDirectory
        }
        options.newProcessGroup = true
        return options
    }

    private func spawn(_ plan: Plan) throws {
        self.plan = plan
        if !runtime.spawnHelperFound && (plan.cgroup != nil || plan.account != nil) {
            throw JobRunnerError.noSpawnHelper(runtime.spawnHelper)
        }
        let options = try Self.spawnOptions(plan, helper: runtime.spawnHelperFound ? runtime.spawnHelper : nil)
        // The timer first: once the process runs, nothing may fail.
        let timeout = plan.launch.timeoutMillis > 0 ? try Timer(loop: loop) : nil
        let process: ChildProcess
        do {
            process = try ChildProcess(loop: loop, options: options) { [self] status in exited(status) }
        } catch {
            timeout?.close()
            throw error
        }
        self.process = process
        group = process.pid
        flow.onInputPause = { [weak self] pause in self?.pauseReading(pause) }
        flow.onDrained = { [weak self] in
            self?.outputDrained = true
            self?.finishIfDone()
        }
        flow.onNote = { [runtime, assignment] line in runtime.log("job \(assignment.spec.id): \(line)") }
        if let stdout = process.stdout { pipes[.stdout] = stdout }
        if let stderr = process.stderr { pipes[.stderr] = stderr }
        for stream in Array(pipes.keys) { read(stream) }
        if let timeout {
            timeoutTimer = timeout
            timeout.start(after: plan.launch.timeoutMillis) { [weak self] in self?.stop(.timedOut) }
        }
    }

    // MARK: - Output

    private func read(_ stream: OutputStream) {
        guard let pipe = pipes[stream] else { return }
        do {
            try pipe.startReading { [self] event in
                switch event {
                case .data(let bytes): flow.append(stream, bytes)
                case .eof, .error: closePipe(stream)
                }
            }
        } catch {
            closePipe(stream)
        }
    }

    private func pauseReading(_ pause: Bool) {
        readingPaused = pause
        for (stream, pipe) in pipes {
            if pause { pipe.stopReading() } else { read(stream) }
        }
    }

    private func closePipe(_ stream: OutputStream) {
        guard let pipe = pipes.removeValue(forKey: stream) else { return }
        pipe.close()
        finishIfDone()
    }

    // MARK: - Stopping

    private func signalGroup(_ signal: Int32) {
        guard group > 0 else { return }
        _ = kill(-group, signal)
    }

    private func stop(_ reason: HostStop, grace: UInt64? = nil) {
        guard process != nil, !finishing else { return }
        if exit != nil {
            // Already exited: a cancel only hurries its leftovers.
            if reason == .cancelled { killLeftovers() }
            return
        }
        guard stoppedBy == nil else { return }
        stoppedBy = reason
        timeoutTimer?.stop()
        signalGroup(SIGTERM)
        do {
            let timer = try Timer(loop: loop)
            killTimer = timer
            timer.start(after: grace ?? runtime.settings.killGraceMillis) { [weak self] in self?.killAll() }
        } catch {
            // No timer (the loop is closing): no grace period either.
            killAll()
        }
    }

    /// SIGKILL to the process group, and to the whole cgroup.
    private func killAll() {
        signalGroup(SIGKILL)
        if let cgroup = plan?.cgroup { loop.queueWork({ cgroup.killAll() }, then: { _ in }) }
    }

    private func exited(_ status: ExitStatus) {
        exit = status
        timeoutTimer?.close()
        timeoutTimer = nil
        // Whatever it left running in its group is stopped too.
        if kill(-group, 0) == 0 {
            leftovers = true
            signalGroup(SIGTERM)
            if let poll = try? Timer(loop: loop) {
                leftoverPoll = poll
                poll.start(after: 25, repeat: 25) { [weak self] in self?.checkLeftovers() }
            }
        }
        if leftovers || !pipes.isEmpty {
            do {
                let timer = try Timer(loop: loop)
                exitTimer = timer
                armExitTimer()
            } catch {
                killLeftovers()
            }
        }
        finishIfDone()
    }

    /// Whether what the main process left in its group has ended (zombies
    /// waiting for their new parent count as ended), looked up off the loop.
    private func checkLeftovers() {
        guard leftovers, !checkingLeftovers else { return }
        checkingLeftovers = true
        let group = group
        loop.queueWork(
            { !ProcessGroup.hasLiveMembers(group) },
            then: { [self] gone in
                checkingLeftovers = false
                guard gone, leftovers else { return }
                leftovers = false
                finishIfDone()
            })
    }

    private func armExitTimer() {
        exitTimer?.start(after: runtime.settings.exitGraceMillis) { [weak self] in self?.killLeftovers() }
    }

    /// After the main process: SIGKILL what is left and close the pipes a
    /// process outside the group still holds.
    private func killLeftovers() {
        guard !finishing else { return }
        killAll()
        leftovers = false
        if readingPaused {
            // The pipes hold output not yet read because the spill is behind: wait for it.
            armExitTimer()
            return
        }
        for stream in Array(pipes.keys) {
            if let pipe = pipes.removeValue(forKey: stream) { pipe.close() }
        }
        finishIfDone()
    }

    // MARK: - Finishing

    private func finishIfDone() {
        guard !finishing, let exit, pipes.isEmpty, !leftovers else { return }
        guard outputDrained else { return flow.finish() }
        finishing = true
        for timer in [timeoutTimer, killTimer, exitTimer, leftoverPoll] { timer?.close() }
        timeoutTimer = nil
        killTimer = nil
        exitTimer = nil
        leftoverPoll = nil
        process = nil
        guard let plan, plan.cgroup != nil || plan.workDirectory != nil else {
            return classify(exit, usage: nil, cleanup: [])
        }
        loop.queueWork(
            { () -> (CgroupUsage?, [String]) in
                let usage = plan.cgroup?.usage()
                return (usage, Self.cleanUp(plan))
            }, then: { [self] (usage, cleanup) in classify(exit, usage: usage, cleanup: cleanup) })
    }

    private func classify(_ exit: ExitStatus, usage: CgroupUsage?, cleanup: [String]) {
        for line in cleanup {
            notes.append(line)
            runtime.log("job \(assignment.spec.id): \(line)")
        }
        var stop = stoppedBy
        if stop == nil, exit.signal == SIGKILL, let usage, usage.oomKills > 0 { stop = .memoryLimit }
        let spec = assignment.spec
        let report: ((ExitClass, String)) -> Void = { [self] verdict in
            var reason = verdict.1
            let resources = spec.requirements.resources
            if let note = plan?.limitsNote, resources.memoryBytes > 0 || resources.cpuMillis > 0 {
                reason += " (limits not enforced: \(note))"
            }
            flow.onInputPause = nil
            flow.onDrained = nil
            flow.onNote = nil
            completion(
                AttemptReport(
                    assignment: assignment, executor: executor.name,
                    outcome: JobOutcome(status: exit, stoppedBy: stop, verdict: verdict.0, reason: reason),
                    cgroup: plan?.cgroup, limitsNotEnforced: plan?.limitsNote, usage: usage,
                    stdoutBytes: flow.bytes(of: .stdout), stderrBytes: flow.bytes(of: .stderr),
                    spilledBytes: flow.spilledBytes, notes: notes))
        }
        switch executor {
        case .inline(let plugin):
            report(plugin.classify(spec, status: exit, stoppedBy: stop))
        case .service(let service):
            let callback = LoopBound(report, loop: loop)
            let loop = loop
            service.classify(spec, status: exit, stoppedBy: stop) { verdict in
                _ = loop.execute { callback.wrapped(verdict) }
            }
        }
    }
}

/// Why a job could not be started.
public enum JobRunnerError: Error, Hashable, CustomStringConvertible {
    /// The launch names a user this machine does not have.
    case unknownUser(String)
    /// `getpwnam_r` failed.
    case userLookupFailed(String, errno: Int32)
    /// The job asks for another user and the agent is not root.
    case cannotSwitchUser(String, agentUID: UInt32)
    /// No executor plugin by that name is loaded.
    case unknownExecutor(String, known: [String])
    /// The attempt's cgroup could not be made.
    case cgroupFailed(String, String)
    /// `orchion-spawn` is needed and missing.
    case noSpawnHelper(String)
    /// The agent's default job user (`--job-user`) is not an account here.
    case noDefaultUser(String)
    /// The agent's `JobUserPolicy` does not let jobs run as this user.
    case userRefused(String, JobUserRefusal)
    /// A job's working directory (or the directory they are made in) could not be made or used.
    case workDirectory(String, String)

    public var description: String {
        switch self {
        case .unknownUser(let user): "unknown user '\(user)': expected an account on this machine"
        case .userLookupFailed(let user, let code):
            "cannot look up user '\(user)': getpwnam_r failed: \(CgroupFiles.describe(code))"
        case .cannotSwitchUser(let user, let uid):
            "cannot run as user '\(user)': the agent runs as uid \(uid), not root, and may only run jobs as itself"
        case .unknownExecutor(let name, let known):
            "unknown executor '\(name)': expected one of \(known.isEmpty ? "(none loaded)" : known.joined(separator: ", "))"
        case .cgroupFailed(let path, let what): "cannot make cgroup \(path): \(what)"
        case .noSpawnHelper(let path):
            "jobs need the exec helper orchion-spawn here, expected an executable at \(path)"
        case .noDefaultUser(let user):
            "the default job user '\(user)' is not an account on this machine: create it (useradd --system "
                + "--no-create-home \(user)) or name another with --job-user"
        case .userRefused(let user, .root):
            "job user '\(user)' refused: it is a uid-0 account and this agent runs no job as root unless its "
                + "configuration says so; start the agent with --allow-root-jobs to allow it"
        case .userRefused(let user, .notAllowed(let defaultUser, let allowed)):
            "job user '\(user)' refused: this agent runs jobs as its default user '\(defaultUser)' and as the users "
                + "on its allow-list only (\(allowed.isEmpty ? "empty" : allowed.joined(separator: ", "))); start the "
                + "agent with --allow-job-user \(user) to allow it"
        case .workDirectory(let path, let what): "cannot make working directory \(path): \(what)"
        }
    }
}
