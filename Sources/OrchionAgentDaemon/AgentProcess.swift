import Glibc
import OrchionAgent
import OrchionAgentProto
import OrchionLoop
import OrchionPluginHost
import OrchionProto
import Synchronization

/// `orchion agent run` from start to exit: opens the journal (stopping and
/// failing attempts a previous run left unfinished), discovers the host,
/// loads the executor plugins, then runs `AgentDaemon` on a loop thread
/// until SIGTERM or SIGINT.
///
/// Threading: `run` from the main task; it blocks on startup work (journal,
/// discovery, plugin loading) before any loop runs.
public enum AgentProcess {
    /// The exit status of an agent the server no longer lets in (its node
    /// was removed, or its credential refused with no join to fall back
    /// on): a supervisor must not restart it (systemd's
    /// `RestartPreventExitStatus=77`, `orchion up`).
    public static let refusedExitStatus: Int32 = 77

    /// Runs the agent; returns its exit status once it has stopped (0, or
    /// `refusedExitStatus` when the server no longer lets
    /// this node in).
    ///
    /// `linkedExecutors` are executor plugins linked into this binary
    /// (`orchion-agent`'s `exec`; see `PluginLibrary.linked`): they come
    /// first, a plugin file claiming one of their names is not used, and the
    /// directory beside the executable (where a development build keeps the
    /// built-in plugins' `.so`s) is not searched.
    public static func run(
        _ settings: AgentSettings, agentVersion: String, notifier: ServiceNotifier?,
        environment: [String: String], linkedExecutors: [PluginLibrary] = [],
        log: @escaping @Sendable (String) -> Void
    ) async throws -> Int32 {
        try makeDirectories(settings.stateDirectory)
        let (journal, opened) = try AgentJournal.open(directory: settings.stateDirectory)
        if opened.truncatedBytes > 0 {
            log("journal \(journal.path): cut \(opened.truncatedBytes) bytes of a torn record at its end")
        }
        let recovered = try recoverUnfinished(opened, journal: journal, nodeID: settings.nodeID, log: log)

        let nvml = try? NVML.load()
        let inventory = HostDiscovery(labels: settings.labels).discover(nvml: nvml)
        for note in inventory.notes { log("discovery: \(note)") }
        let sampler = TelemetrySampler(gpus: inventory.gpus, nvml: nvml)

        let registry = PluginRegistry()
        let directories = PluginDirectory.searchPath(flags: settings.pluginDirectories, environment: environment)
            .filter { linkedExecutors.isEmpty || $0.source != .builtin }
        let entries = registry.scan(directories)
        for entry in entries { if let reason = entry.state.reason { log("plugin \(entry.file) refused: \(reason)") } }
        let linkedNames = Set(linkedExecutors.map(\.info.name))
        var found: [PluginLibrary] = []
        for entry in entries {
            guard let name = entry.info?.name, let library = registry.library(named: name),
                library.info.file == entry.file
            else { continue }
            if linkedNames.contains(name) {
                log("plugin \(entry.file) not used: \(name) is linked into this binary")
            } else {
                found.append(library)
            }
        }
        let (catalog, failures) = await ExecutorCatalog.load(linkedExecutors + found)
        for failure in failures { log("executor refused: \(failure)") }
        guard !catalog.names.isEmpty else {
            log("no executor plugin found (looked for liborchion-exec.so in the plugin directories)")
            return 1
        }
        let origins = (linkedExecutors + found).filter { $0.info.kind == .executor }
        log(
            "executors: "
                + catalog.names.map { name in
                    origins.first { $0.info.name == name }.map { "\(name) (\($0.info.file))" } ?? name
                }.joined(separator: ", "))

        let spill = settings.stateDirectory + "/spill"
        try makeDirectories(spill)
        var execution = ExecutionSettings(spillDirectory: spill)
        execution.jobUsers = settings.jobUsers
        execution.workDirectory = settings.workDirectory
        let runtime: ExecutionRuntime
        do {
            runtime = try ExecutionRuntime(settings: execution, executors: catalog, log: log)
        } catch {
            catalog.shutdown()
            throw error
        }

        let registration = Orchion_V1_Register.with {
            $0.nodeID = settings.nodeID
            $0.hostname = inventory.hostname
            $0.capabilities = Orchion_V1_Capabilities(
                inventory, agentVersion: agentVersion, executors: catalog.names)
            $0.labels = inventory.labels
            $0.capacity = .with {
                $0.cpuMillis = UInt64(max(inventory.cpu.threads, 1)) * 1000
                $0.memoryBytes = inventory.memoryBytes
                $0.gpus = UInt32(clamping: inventory.gpus.count)
            }
        }
        let journalWorker = try SerialWorker(name: "orchion-journal") { _, runAll in
            runAll()
            try journal.sync()
        }
        let thread = try LoopThread()
        let loop = thread.loop
        let started: Result<Int32, any Error> = await withCheckedContinuation { continuation in
            let once = Once(continuation)
            let accepted = loop.execute {
                let daemon = AgentDaemon(
                    loop: loop, settings: settings, runtime: runtime, journal: journal, journalWorker: journalWorker,
                    recovered: recovered, registration: registration, sampler: sampler, notifier: notifier, log: log)
                do {
                    try daemon.start { [daemon] in
                        once.resume(.success(daemon.exitStatus))
                    }
                    log(
                        "agent \(settings.nodeID) started; server \(settings.server); state in \(settings.stateDirectory)"
                    )
                } catch {
                    once.resume(.failure(error))
                }
            }
            if !accepted {
                once.resume(.failure(AgentStartError(description: "the agent's loop closed before it started")))
            }
        }
        catalog.shutdown()
        runtime.shutdown()
        // The jobs' working directories' parent, when no job left one behind.
        rmdir(settings.workDirectory)
        try? journalWorker.shutdown()
        do { try thread.shutdown() } catch { log("loop closed with handles still open: \(error)") }
        switch started {
        case .failure(let error):
            log("could not start: \(error)")
            return 1
        case .success(let status):
            log(status == 0 ? "stopped" : "stopped (exit status \(status))")
            return status
        }
    }

    /// Attempts a previous run accepted and did not finish cannot be
    /// observed again (their pipes went with that process): whatever is left
    /// of their process group is killed and they end LOST (the node's
    /// doing, not the job's: the server retries them like a lost node's).
    static func recoverUnfinished(
        _ recovered: AgentJournal.Recovered, journal: AgentJournal, nodeID: String,
        log: (String) -> Void
    ) throws(JournalError) -> AgentJournal.Recovered {
        var result = recovered
        result.attempts = []
        for (key, state) in recovered.attempts {
            let pid: Int32
            switch state {
            case .ended:
                result.attempts.append((key, state))
                continue
            case .accepted: pid = 0
            case .started(let started): pid = started
            }
            var stopped = false
            if pid > 0, belongs(pid: pid, to: key) {
                stopped = kill(-pid, SIGKILL) == 0
            }
            let event = Orchion_V1_JobEvent.with {
                $0.jobID = key.jobID
                $0.attempt = key.attempt
                $0.state = .lost
                $0.nodeID = nodeID
                $0.reason =
                    "the agent restarted while the attempt ran"
                    + (stopped ? " (its process group \(pid) was killed)" : "")
                $0.at = wallClock()
            }
            let sequence = try journal.ended(event)
            log("\(key): \(event.reason)")
            result.attempts.append((key, .ended(event)))
            result.pending.append(AgentJournal.Pending(sequence: sequence, key: key, outputBytes: 0, isEnd: true))
        }
        try journal.sync()
        return result
    }

    /// Whether process `pid` runs attempt `key` (its environment says so),
    /// so a reused pid is never killed.
    static func belongs(pid: Int32, to key: AttemptKey) -> Bool {
        guard let environment = AgentSettings.readBytes("/proc/\(pid)/environ", limit: 1 << 20) else { return false }
        let entries = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return entries.contains("ORCHION_JOB_ID=\(key.jobID)") && entries.contains("ORCHION_ATTEMPT=\(key.attempt)")
    }

    /// `mkdir -p` with mode 700 for what it makes.
    static func makeDirectories(_ path: String) throws(JournalError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o700) != 0, errno != EEXIST { throw .io("create directory \(current)", errno) }
        }
    }
}

/// Why the agent could not start.
struct AgentStartError: Error, CustomStringConvertible {
    let description: String
}

/// Resumes a continuation once, from whichever thread gets there first.
///
/// Threading: any thread.
final class Once<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) { self.continuation = Mutex(continuation) }

    func resume(_ value: Value) {
        continuation.withLock { continuation in
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
}
