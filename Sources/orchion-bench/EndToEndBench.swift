// `orchion-bench e2e [--quick] [--jobs N] [--latency N] [--clock PROGRAM]`:
// jobs end to end (issue 9). Starts the real `orchion server` and two real
// `orchion agent run` processes (beside this executable) on 127.0.0.1, then
//   - throughput: N jobs (argv ["true"]) submitted with many concurrent
//     SubmitJob calls; jobs/s from the first submit to the SUCCEEDED event
//     of the last one, as a WatchEvents stream delivers it (completion is
//     the server holding the succeeded state; no polling);
//   - latency on the idle cluster, one job at a time: submit → RUNNING event
//     at a watcher, and submit → process started, the time the job's first
//     output line holds (PROGRAM prints CLOCK_REALTIME in nanoseconds as its
//     first instruction; .ci/e2e builds it and uses it for Slurm too).
// Prints Markdown table rows (the table's header is .ci/e2e's).
import Glibc
import OrchionLoop
import OrchionPluginHost
import OrchionProto
import OrchionWire
import Synchronization

struct EndToEndOptions {
    var quick = false
    var jobs = 10_000
    var latencySamples = 200
    var clock: String?
    var agents = 2
    var connections = 4
    var inFlightPerConnection = 64
    /// Each job's CPU request: how many run at once on a node (its cores × 1000 / this).
    var cpuMillis = 100

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        func count(_ flag: String) throws -> Int {
            let text = rest.popFirst() ?? ""
            guard let value = Int(text), value > 0 else {
                throw BenchError("\(flag): expected a positive count, found '\(text)'")
            }
            return value
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick":
                quick = true
                jobs = 2_000
                latencySamples = 50
            case "--jobs": jobs = try count(argument)
            case "--latency": latencySamples = try count(argument)
            case "--agents": agents = try count(argument)
            case "--in-flight": inFlightPerConnection = try count(argument)
            case "--cpu-millis": cpuMillis = try count(argument)
            case "--clock": clock = rest.popFirst()
            default: throw BenchError("e2e: unknown option \(argument)")
            }
        }
    }

    /// Untimed jobs run first (agents warm, the store's files grown).
    var warmUpJobs: Int { quick ? 200 : 1_000 }
    var latencyWarmUp: Int { quick ? 10 : 20 }
}

/// The process group of the agent children (0 when none), for the signal
/// handlers and the failure path.
let agentGroupID = Atomic<Int32>(0)

/// Kills the agents' process group. Safe from a signal handler.
func killAgentChildren() {
    let group = agentGroupID.exchange(0, ordering: .relaxed)
    if group > 0 { kill(-group, SIGKILL) }
}

/// Runs the benchmark, prints its rows, exits: 0, or 1 with the reason.
func endToEndBenchmark(_ arguments: [String]) -> Never {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        Glibc.signal(signal) { _ in
            killAgentChildren()
            killServerChild()
            _exit(130)
        }
    }
    let failure = Mutex<String?>(nil)
    let done = CountingSemaphore(0)
    Task {
        do {
            try await EndToEndBench(EndToEndOptions(arguments)).run()
        } catch {
            failure.withLock { $0 = "\(error)" }
        }
        done.post()
    }
    done.wait()
    killAgentChildren()
    killServerChild()
    if let reason = failure.withLock({ $0 }) {
        writeLine(2, "orchion-bench e2e: \(reason)\n")
        exit(1)
    }
    exit(0)
}

/// What the event watcher saw of each job: when (this process's monotonic
/// clock) its RUNNING and its end arrived, and who waits for which.
///
/// Threading: any thread.
final class EventBook: Sendable {
    struct End: Sendable {
        let state: Orchion_V1_JobState
        let at: Double
        let reason: String
    }

    private struct Book {
        var running: [String: Double] = [:]
        var ended: [String: End] = [:]
        var waiters: [String: CheckedContinuation<End, Never>] = [:]
        /// Tracked jobs (a throughput run) not ended yet.
        var remaining: Set<String> = []
        var submitting = false
        var lastEnd = 0.0
        var failed: [String: String] = [:]
        var allEnded: CheckedContinuation<Void, Never>?
        var lastSequence: UInt64 = 0
    }

    private let book = Mutex(Book())

    var lastSequence: UInt64 { book.withLock { $0.lastSequence } }

    /// Records one event from the watch stream.
    func record(_ event: Orchion_V1_JobEvent, at time: Double) {
        let resume: (() -> Void)? = book.withLock { book in
            book.lastSequence = max(book.lastSequence, event.sequence)
            switch event.state {
            case .running:
                if book.running[event.jobID] == nil { book.running[event.jobID] = time }
                return nil
            case .succeeded, .failed, .cancelled:
                let end = End(state: event.state, at: time, reason: event.reason)
                guard book.ended[event.jobID] == nil else { return nil }
                book.ended[event.jobID] = end
                var actions: [() -> Void] = []
                if let waiter = book.waiters.removeValue(forKey: event.jobID) {
                    actions.append { waiter.resume(returning: end) }
                }
                if book.remaining.remove(event.jobID) != nil {
                    book.lastEnd = max(book.lastEnd, time)
                    if event.state != .succeeded { book.failed[event.jobID] = "\(event.state): \(event.reason)" }
                    if let all = Self.takeIfDone(&book) { actions.append { all.resume() } }
                }
                return actions.isEmpty ? nil : { for action in actions { action() } }
            default:
                return nil
            }
        }
        resume?()
    }

    /// Waits for `job`'s end.
    func end(of job: String) async -> End {
        await withCheckedContinuation { continuation in
            let ended: End? = book.withLock { book in
                if let end = book.ended[job] { return end }
                book.waiters[job] = continuation
                return nil
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }

    func runningAt(_ job: String) -> Double? { book.withLock { $0.running[job] } }

    /// A throughput run starts: jobs from `track` count until `finishSubmitting`.
    func startTracking() {
        book.withLock { book in
            book.remaining = []
            book.failed = [:]
            book.lastEnd = 0
            book.submitting = true
        }
    }

    /// A submitted job of the throughput run.
    func track(_ job: String) {
        book.withLock { book in
            if let end = book.ended[job] {
                book.lastEnd = max(book.lastEnd, end.at)
                if end.state != .succeeded { book.failed[job] = "\(end.state): \(end.reason)" }
            } else {
                book.remaining.insert(job)
            }
        }
    }

    /// Every job is submitted; returns once each tracked job has ended, with
    /// the time the last end arrived and the jobs that did not succeed.
    func finishSubmitting() async -> (lastEnd: Double, failed: [String: String]) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: CheckedContinuation<Void, Never>? = book.withLock { book in
                book.submitting = false
                book.allEnded = continuation
                return Self.takeIfDone(&book)
            }
            done?.resume()
        }
        return book.withLock { ($0.lastEnd, $0.failed) }
    }

    /// How many tracked jobs have not ended (for a progress or failure line).
    var remainingCount: Int { book.withLock { $0.remaining.count } }

    private static func takeIfDone(_ book: inout Book) -> CheckedContinuation<Void, Never>? {
        guard !book.submitting, book.remaining.isEmpty, let all = book.allEnded else { return nil }
        book.allEnded = nil
        return all
    }
}

/// The agents: `orchion agent run` processes in one process group of their
/// own, logging to files in the server's directory.
///
/// Threading: any thread; `stop` once.
final class AgentChildren: Sendable {
    let pids: [Int32]
    let logs: [String]

    init(count: Int, server: ServerChild) throws {
        let binary = (PluginDirectory.executableDirectory() ?? ".") + "/orchion"
        var variables = ProcessEnvironment.current.map { "\($0.key)=\($0.value)" }.filter { !$0.hasPrefix("ORCHION_") }
        variables.append("ORCHION_PLUGINS_PATH=")
        var pids: [Int32] = []
        var logs: [String] = []
        for index in 0..<count {
            let state = "\(server.directory)/agent-\(index)"
            let log = "\(server.directory)/agent-\(index).log"
            let arguments = [
                binary, "agent", "run", "--server", server.address.description, "--join-token-file",
                "\(server.directory)/join.token", "--node-id", "e2e-agent-\(index)", "--state-dir", state,
            ]
            let pid = try spawnLogged(arguments, environment: variables, log: log, group: pids.first ?? 0)
            if pids.isEmpty { agentGroupID.store(pid, ordering: .relaxed) }
            pids.append(pid)
            logs.append(log)
        }
        self.pids = pids
        self.logs = logs
    }

    /// The last lines of every agent's log.
    func logTails(_ lines: Int = 10) -> String {
        logs.map { "\($0):\n" + (readText($0) ?? "").split(separator: "\n").suffix(lines).joined(separator: "\n") }
            .joined(separator: "\n")
    }

    /// User plus system CPU seconds of every agent so far.
    func cpuSeconds() -> Double { pids.compactMap(processCPUSeconds).reduce(0, +) }

    /// SIGTERM to the group, SIGKILL after 10 s; reaps every agent.
    func stop() {
        guard let group = pids.first,
            agentGroupID.compareExchange(expected: group, desired: 0, ordering: .relaxed).exchanged
        else { return }
        kill(-group, SIGTERM)
        let deadline = now() + 10
        for pid in pids { reapChild(pid, until: deadline, killing: -group) }
    }
}

/// Starts `arguments` with `environment`, stdin from /dev/null and stdout
/// and stderr to a new file `log`, in process group `group` (0: a new one).
func spawnLogged(_ arguments: [String], environment: [String], log: String, group: Int32) throws -> Int32 {
    let descriptor = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw BenchError("cannot create \(log): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, descriptor, 1)
    posix_spawn_file_actions_adddup2(&actions, descriptor, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, group)
    var pid: pid_t = 0
    let status = withCStrings(arguments) { argv in
        withCStrings(environment) { envp in posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp) }
    }
    guard status == 0 else { throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(status)))") }
    return pid
}

/// User plus system CPU seconds of process `pid` so far (/proc/PID/stat).
func processCPUSeconds(_ pid: Int32) -> Double? {
    guard let stat = readText("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CLOCK_REALTIME in seconds.
func wallClock() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

final class EndToEndBench: Sendable {
    let options: EndToEndOptions
    let scratch: String
    let loops: [LoopThread]

    init(_ options: EndToEndOptions) throws {
        self.options = options
        scratch = makeScratchDirectory("orchion-e2e-bench")
        loops = try (0..<2).map { _ in try LoopThread() }
    }

    private func spec(_ argv: [String]) -> Orchion_V1_JobSpec {
        let cpu = UInt64(options.cpuMillis)
        return .with {
            $0.argv = argv
            $0.resources = .with {
                $0.cpuMillis = cpu
                $0.memoryBytes = 1 << 20
            }
        }
    }

    func run() async throws {
        defer { removeTree(scratch) }
        let server = try ServerChild(scratch: scratch, label: "e2e", environment: [:])
        let agents: AgentChildren
        do {
            agents = try AgentChildren(count: options.agents, server: server)
        } catch {
            server.stop()
            throw error
        }
        do {
            try await measure(server, agents: agents)
        } catch {
            let tails = "server:\n\(server.logTail())\n\(agents.logTails())"
            agents.stop()
            server.stop()
            throw BenchError("\(error)\nlast lines of the logs:\n\(tails)")
        }
        agents.stop()
        server.stop()
    }

    private func measure(_ server: ServerChild, agents: AgentChildren) async throws {
        let control = try await GRPCClient.connect(
            loop: loops[0].loop, to: server.address, token: ServerChild.clientToken)
        let deadline = now() + 60
        while true {
            let reply: Orchion_V1_ListNodesResponse = try await control.unary(
                "/orchion.v1.ControlService/ListNodes", Orchion_V1_ListNodesRequest(), timeoutMillis: 10_000)
            if reply.nodes.filter({ $0.state == .ready }).count == options.agents { break }
            guard now() < deadline else {
                throw BenchError("expected \(options.agents) ready nodes within 60 s, found \(reply.nodes.count)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }

        let book = EventBook()
        let watcher = try await GRPCClient.connect(
            loop: loops[1].loop, to: server.address, token: ServerChild.clientToken)
        let watching = Task {
            // A watcher that falls behind is ended by the server; resume
            // after the last event seen.
            while !Task.isCancelled {
                let events = watcher.serverStreaming(
                    "/orchion.v1.ControlService/WatchEvents",
                    Orchion_V1_WatchEventsRequest.with { $0.after = book.lastSequence }, as: Orchion_V1_JobEvent.self)
                do {
                    for try await event in events { book.record(event, at: now()) }
                } catch {
                    if Task.isCancelled { return }
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        defer { watching.cancel() }

        _ = try await throughput(server, agents: agents, book: book, count: options.warmUpJobs)
        let row = try await throughput(server, agents: agents, book: book, count: options.jobs)
        let latency = try await latencies(control: control, book: book)
        await control.close()
        watching.cancel()
        await watcher.close()

        let rate = Double(options.jobs) / row.seconds
        print(
            "THROUGHPUT | Orchion: release server + \(options.agents) real agents (`orchion agent run`), \(options.connections * options.inFlightPerConnection) SubmitJob calls in flight on \(options.connections) connections | `true` (argv) | \(options.jobs) | \(String(format3: row.seconds)) | \(Int(rate.rounded())) | all submitted after \(String(format3: row.submitted)) s; server CPU \(String(format1: row.serverCPU)) s, agents \(String(format1: row.agentCPU)) s; \(row.failed) not succeeded |"
        )
        print(
            "LATENCY | Orchion: release server + \(options.agents) agents, idle, one job at a time | \(latency.started.values.count) | \(latency.started.millis) | \(latency.running.millis) |"
        )
        let p50 = latency.started.percentile(0.5) ?? latency.running.percentile(0.5)
        print("SUMMARY \(Int(rate.rounded())) \(p50.map { String(format3: $0 * 1000) } ?? "n/a")")
    }

    /// What the submitting tasks share: the next job's number, the errors.
    private final class SubmitShared: Sendable {
        let next = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
    }

    private struct ThroughputResult {
        var seconds = 0.0
        var submitted = 0.0
        var serverCPU = 0.0
        var agentCPU = 0.0
        var failed = 0
    }

    /// `count` jobs of `true`: the submitting tasks share a counter; each
    /// reply's job is tracked; done when the watcher has every end.
    private func throughput(_ server: ServerChild, agents: AgentChildren, book: EventBook, count: Int) async throws
        -> ThroughputResult
    {
        let clients = try await (0..<options.connections).asyncMap { index in
            try await GRPCClient.connect(
                loop: self.loops[index % self.loops.count].loop, to: server.address, token: ServerChild.clientToken)
        }
        let shared = SubmitShared()
        let spec = spec(["true"])
        book.startTracking()
        let (cpu0, agents0) = (server.cpuSeconds() ?? 0, agents.cpuSeconds())
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients {
                for _ in 0..<options.inFlightPerConnection {
                    group.addTask {
                        while shared.next.add(1, ordering: .relaxed).oldValue < count {
                            do {
                                let job: Orchion_V1_Job = try await client.unary(
                                    "/orchion.v1.ControlService/SubmitJob",
                                    Orchion_V1_SubmitJobRequest.with { $0.spec = spec }, timeoutMillis: 30_000)
                                book.track(job.id)
                            } catch {
                                shared.failures.withLock { $0.append("\(error)") }
                                return
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let submitted = now() - start
        if let first = shared.failures.withLock({ $0.first }) {
            throw BenchError("a SubmitJob failed: \(first)")
        }
        // A job whose end never arrives would hang the run: give up after 10 minutes.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(600))
            writeLine(2, "orchion-bench e2e: \(book.remainingCount) jobs had not ended after 10 minutes\n")
            killAgentChildren()
            killServerChild()
            exit(1)
        }
        defer { watchdog.cancel() }
        let (lastEnd, failed) = await book.finishSubmitting()
        for client in clients { await client.close() }
        var result = ThroughputResult()
        result.seconds = lastEnd - start
        result.submitted = submitted
        result.serverCPU = (server.cpuSeconds() ?? 0) - cpu0
        result.agentCPU = agents.cpuSeconds() - agents0
        result.failed = failed.count
        if let example = failed.first {
            writeLine(
                2, "orchion-bench e2e: \(failed.count) jobs did not succeed, e.g. \(example.key): \(example.value)\n")
        }
        return result
    }

    private struct LatencyResult {
        var started = Samples()
        var running = Samples()
    }

    /// One job at a time on the idle cluster: submit → RUNNING at the
    /// watcher, and submit → the job's own clock reading (its first line).
    private func latencies(control: GRPCClient, book: EventBook) async throws -> LatencyResult {
        var result = LatencyResult()
        let argv = options.clock.map { [$0] } ?? ["true"]
        let spec = spec(argv)
        for index in 0..<(options.latencyWarmUp + options.latencySamples) {
            let (wall, start) = (wallClock(), now())
            let job: Orchion_V1_Job = try await control.unary(
                "/orchion.v1.ControlService/SubmitJob", Orchion_V1_SubmitJobRequest.with { $0.spec = spec },
                timeoutMillis: 10_000)
            let end = await book.end(of: job.id)
            guard end.state == .succeeded else {
                throw BenchError("latency job \(job.id) ended \(end.state): \(end.reason)")
            }
            guard index >= options.latencyWarmUp else { continue }
            if let running = book.runningAt(job.id) { result.running.add(running - start) }
            guard options.clock != nil else { continue }
            var output: [UInt8] = []
            let chunks = control.serverStreaming(
                "/orchion.v1.ControlService/FollowLogs",
                Orchion_V1_FollowLogsRequest.with {
                    $0.jobID = job.id
                    $0.follow = false
                }, as: Orchion_V1_LogChunk.self)
            for try await chunk in chunks where chunk.stream == .stdout { output += chunk.data }
            let line = String(decoding: output, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            guard let nanos = Double(line) else {
                throw BenchError("expected the clock program's first line to be nanoseconds, found '\(line)'")
            }
            result.started.add(nanos / 1e9 - wall)
        }
        return result
    }
}
