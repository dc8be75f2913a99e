import Glibc
import OrchionLoop
import OrchionPluginHost
import Synchronization

/// How the agent runs jobs.
///
/// Threading: a value; safe anywhere.
public struct ExecutionSettings: Sendable, Hashable {
    /// Where job cgroups go.
    public enum Cgroups: Sendable, Hashable {
        /// Find a delegated cgroup v2 subtree (see `CgroupSupport.detect`).
        case detect
        /// Use this cgroup v2 directory.
        case base(String)
        /// Never make cgroups.
        case off
    }

    /// Between SIGTERM and SIGKILL when the host stops a job (timeout or cancel).
    public var killGraceMillis: UInt64 = 10_000
    /// After the main process exited: how long what it left in its group
    /// has before SIGKILL, and its pipes before they are closed.
    public var exitGraceMillis: UInt64 = 1_000
    /// Output held in memory per job while its consumer is behind; beyond
    /// it, output spills to a file.
    public var outputMemoryBytes = 1 << 20
    /// Spilled output waiting to be written, per job, above which the job's
    /// pipes are no longer read until the disk catches up.
    public var spillBacklogBytes = 8 << 20
    /// Where spill files are made (each is unlinked at once).
    public var spillDirectory: String
    /// The `orchion-spawn` exec helper; nil: beside the running executable.
    public var spawnHelper: String?
    public var cgroups: Cgroups = .detect
    /// Who jobs run as when the agent is root (see `JobUserPolicy`).
    public var jobUsers = JobUserPolicy()
    /// Where jobs that name no working directory get one of their own (see
    /// `WorkDirectory`); nil: they start in the agent's.
    public var workDirectory: String?

    public init(spillDirectory: String) {
        self.spillDirectory = spillDirectory
    }
}

/// What every job on this agent shares: the settings, the executors, the
/// cgroup support found at startup, the spill writer thread, the log.
///
/// Threading: `init` blocks (cgroup detection reads cgroupfs): make it
/// before the loop runs or off it. Everything else may be called from any
/// thread; `JobRunner.start` takes it on the loop thread.
public final class ExecutionRuntime: Sendable {
    public let settings: ExecutionSettings
    public let executors: ExecutorCatalog
    /// Whether jobs get cgroups, decided once at startup.
    public let cgroups: CgroupSupport
    /// The exec helper's path.
    public let spawnHelper: String
    /// Whether it was there, executable, at startup (checked then, so the
    /// loop never stats it).
    public let spawnHelperFound: Bool
    /// The account jobs that name no user run as: the policy's default user
    /// when the agent is root (checked at startup); nil when the agent is
    /// not root (jobs run as the agent).
    public let defaultJobAccount: RunAsAccount?
    /// The agent's effective uid at startup.
    let agentUID: UInt32
    let spillWorker: SerialWorker
    private let logLine: @Sendable (String) -> Void

    /// Detects cgroup support per `settings.cgroups`, checks the job user
    /// policy's default user (when the agent is root) and the work
    /// directory, and starts the spill writer. `log` gets one line per event
    /// worth an operator's eye: once at startup, who jobs run as, and
    /// whether they get memory and CPU limits, and why not.
    public init(
        settings: ExecutionSettings, executors: ExecutorCatalog, log: @escaping @Sendable (String) -> Void
    ) throws(ExecutionRuntimeError) {
        self.settings = settings
        self.executors = executors
        self.logLine = log
        spawnHelper = settings.spawnHelper ?? ((PluginDirectory.executableDirectory() ?? ".") + "/orchion-spawn")
        spawnHelperFound = access(spawnHelper, X_OK) == 0
        agentUID = geteuid()
        do throws(JobRunnerError) {
            if agentUID == 0 {
                let account = try settings.jobUsers.resolveDefault()
                guard spawnHelperFound else { throw .noSpawnHelper(spawnHelper) }
                defaultJobAccount = account
                log(settings.jobUsers.summary(default: account))
                for user in settings.jobUsers.allowedUsers {
                    switch Result(catching: { () throws(JobRunnerError) in try RunAsAccount.lookup(user) }) {
                    case .failure(let error): log("allowed job user '\(user)': \(error); jobs naming it fail")
                    case .success(let found) where found.uid == 0 && !settings.jobUsers.allowRoot:
                        log("allowed job user '\(user)' is uid 0: refused all the same without --allow-root-jobs")
                    case .success: break
                    }
                }
            } else {
                defaultJobAccount = nil
                let flags =
                    settings.jobUsers != JobUserPolicy() ? " (the job user flags apply to a root agent only)" : ""
                log("jobs run as the agent's own user (uid \(agentUID)): it is not root\(flags)")
            }
            if let root = settings.workDirectory {
                try WorkDirectory.prepareRoot(root)
                let stale = WorkDirectory.removeStale(in: root)
                if stale.removed > 0 {
                    log("removed \(stale.removed) working directories of a previous run in \(root)")
                }
                for problem in stale.problems { log(problem) }
                log("jobs that name no working directory get their own under \(root), removed when they end")
            }
        } catch {
            throw .jobs(error)
        }
        var support: CgroupSupport
        switch settings.cgroups {
        case .off: support = .unavailable("cgroups are turned off in the agent's configuration")
        case .detect: support = CgroupSupport.detect()
        case .base(let path): support = CgroupSupport.detect(base: path)
        }
        if case .available = support, !spawnHelperFound {
            support = .unavailable("the exec helper that starts jobs inside their cgroup is missing at \(spawnHelper)")
        }
        cgroups = support
        do { spillWorker = try SerialWorker(name: "orchion-spill") } catch { throw .loop(error) }
        switch support {
        case .unavailable(let reason):
            log("jobs run without cgroup limits (memory.max, cpu.max): \(reason)")
        case .available(let base):
            log(
                "jobs run in cgroups under \(base.path) (memory.max: \(base.memory ? "yes" : "no"), "
                    + "cpu.max: \(base.cpu ? "yes" : "no"))" + base.notes.map { "; \($0)" }.joined())
        }
    }

    func log(_ line: String) { logLine(line) }

    /// The working directory `assignment` gets when its spec names none and
    /// the agent makes them; nil otherwise.
    func workPath(for assignment: JobAssignment) -> String? {
        guard let root = settings.workDirectory, (assignment.spec.cwd ?? "").isEmpty else { return nil }
        return WorkDirectory.path(root: root, job: assignment.spec.id, attempt: assignment.attempt)
    }

    /// Stops the spill writer (after what it has queued). The executors are
    /// the caller's (`executors.shutdown()`).
    public func shutdown() {
        try? spillWorker.shutdown()
    }
}

/// Why an `ExecutionRuntime` could not be made.
public enum ExecutionRuntimeError: Error, CustomStringConvertible {
    /// The spill writer's thread could not start.
    case loop(LoopError)
    /// The job user policy or the work directory is unusable.
    case jobs(JobRunnerError)

    public var description: String {
        switch self {
        case .loop(let error): "\(error)"
        case .jobs(let error): "\(error)"
        }
    }
}
