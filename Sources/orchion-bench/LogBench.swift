// `orchion-bench logs`: log throughput from a job's stdout to the server's
// log file, beside a raw pipe + loopback TCP copy of the same bytes.
//
// The real `orchion server` and `orchion agent run` (beside this
// executable) run as children on 127.0.0.1, stopped by PID. Each repetition
// runs, interleaved so machine noise hits both alike:
//   - the baseline: `logtool baseline` — the generator writes into a pipe, a
//     copier process reads it (64 KiB read/write) into a loopback TCP
//     socket, a receiver reads the socket and writes the bytes to a file;
//   - orchion: a job whose process is the same generator; timed from the
//     generator's start (it writes CLOCK_MONOTONIC to a file first) to the
//     moment the server's log file for the job holds every byte.
// Both outputs are checked against the generator's byte count, line count
// and FNV-1a hash (no loss, no reordering). The generator alone (into a
// pipe read by a drain) is measured too. CPU is utime + stime of the agent
// and the server over the orchion run.
import Glibc
import OrchionLoop
import OrchionPluginHost
import OrchionProto
import OrchionWire
import Synchronization

/// The PID of the agent child (0 when none), for the signal handlers and
/// the failure path.
let agentChildPID = Atomic<Int32>(0)

/// Kills the agent child, if any, and reaps it. Safe from a signal handler.
func killAgentChild() {
    let pid = agentChildPID.exchange(0, ordering: .relaxed)
    guard pid > 0 else { return }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

/// SIGTERM to the agent child, SIGKILL after 10 s; reaps it.
private func stopAgentChild() {
    let pid = agentChildPID.exchange(0, ordering: .relaxed)
    guard pid > 0 else { return }
    kill(pid, SIGTERM)
    reapChild(pid, until: now() + 10, killing: pid)
}

/// `orchion-bench logs`'s options: the volume per run and the repetitions.
struct LogBenchOptions {
    var bytes: UInt64 = 256 << 20
    var runs = 5

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick":
                bytes = 64 << 20
                runs = 3
            case "--bytes":
                guard let value = rest.popFirst().flatMap({ UInt64($0) }), value > 0 else {
                    throw BenchError("--bytes: expected a positive number of bytes")
                }
                bytes = value
            case "--runs":
                guard let value = rest.popFirst().flatMap({ Int($0) }), value > 0 else {
                    throw BenchError("--runs: expected a positive count")
                }
                runs = value
            default: throw BenchError("unknown option \(argument); expected --quick, --bytes N or --runs N")
            }
        }
    }
}

/// Runs the benchmark, prints its table, exits: 0, or 1 with the reason.
func logBenchmark(_ arguments: [String]) -> Never {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        Glibc.signal(signal) { _ in
            killAgentChild()
            killServerChild()
            _exit(130)
        }
    }
    let scratch = makeScratchDirectory("orchion-log-bench")
    do {
        let bench = try LogBench(LogBenchOptions(arguments), scratch: scratch)
        defer { bench.stop() }
        try bench.run()
    } catch {
        killAgentChild()
        killServerChild()
        removeTree(scratch)
        writeLine(2, "orchion-bench logs: \(error)\n")
        exit(1)
    }
    removeTree(scratch)
    exit(0)
}

/// One repetition's numbers.
private struct LogRun {
    var baselineSeconds = 0.0
    var orchionSeconds = 0.0
    var agentCPU = 0.0
    var serverCPU = 0.0
    var baselineCPU = 0.0
    /// Records in the server's index for the job: one per chunk it stored.
    var records = 0.0
}

/// What `logtool sum` says of a stream: "BYTES LINES HASH".
private struct StreamSum: Equatable, CustomStringConvertible {
    let text: String
    var description: String { text }
}

/// The benchmark: builds logtool, runs the generator alone, starts the
/// server and the agent, then the interleaved runs, and prints the tables.
///
/// Threading: the main thread only (it blocks: it waits for processes and
/// polls files); gRPC calls run as tasks on its own loop thread, waited for.
final class LogBench {
    private let options: LogBenchOptions
    private let scratch: String
    private let tool: String
    private let loop: LoopThread
    private var server: ServerChild?
    private var client: GRPCClient?
    private var agentPID: Int32 = 0
    private var agentLog = ""

    init(_ options: LogBenchOptions, scratch: String) throws {
        self.options = options
        self.scratch = scratch
        tool = "\(scratch)/logtool"
        loop = try LoopThread()
        let source = "\(scratch)/logtool.c"
        try writeFile(source, logToolSource)
        let (status, output) = try runChild(["cc", "-O2", "-o", tool, source])
        guard status == 0 else { throw BenchError("cc could not build logtool (status \(status)):\n\(output)") }
    }

    func stop() {
        stopAgentChild()
        if let client { try? blocking { await client.close() } }
        client = nil
        server?.stop()
        server = nil
        try? loop.shutdown()
    }

    func run() throws {
        let bytes = options.bytes
        let expected = try sum("\(shellQuote(tool)) gen \(bytes) | \(shellQuote(tool)) sum -")

        // The generator alone, into a pipe read by a drain.
        var generator: [Double] = []
        for _ in 0..<options.runs {
            let start = "\(scratch)/alone.start"
            let (status, output) = try runChild([
                "/bin/sh", "-c", "\(shellQuote(tool)) gen \(bytes) \(shellQuote(start)) | \(shellQuote(tool)) drain",
            ])
            let end = monotonicNanos()
            guard status == 0, output.trimmingWhitespace == "\(bytes)" else {
                throw BenchError("the generator alone: expected \(bytes) bytes drained, found '\(output)'")
            }
            generator.append(Double(end - (try startTime(start))) / 1e9)
        }

        try startCluster()
        var runs: [LogRun] = []
        for index in 0..<options.runs {
            var run = LogRun()
            (run.baselineSeconds, run.baselineCPU) = try baseline(expected: expected)
            (run.orchionSeconds, run.agentCPU, run.serverCPU, run.records) = try orchion(index, expected: expected)
            runs.append(run)
        }
        printTable(generator: generator, runs: runs, expected: expected)
    }

    // MARK: The baseline

    /// One `logtool baseline` run: its seconds and the CPU seconds of its
    /// processes (all reaped, so counted in RUSAGE_CHILDREN), the output checked.
    private func baseline(expected: StreamSum) throws -> (Double, Double) {
        let output = "\(scratch)/baseline.out"
        defer { unlink(output) }
        let before = childrenCPUSeconds()
        let (status, text) = try runChild([tool, "baseline", "\(options.bytes)", output])
        let cpu = childrenCPUSeconds() - before
        let fields = text.split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
        guard status == 0, fields.count == 2, fields[1] > fields[0] else {
            throw BenchError("logtool baseline failed (status \(status)): \(text)")
        }
        let found = try sum("\(shellQuote(tool)) sum \(shellQuote(output))")
        guard found == expected else { throw BenchError("the baseline's file: expected \(expected), found \(found)") }
        return (Double(fields[1] - fields[0]) / 1e9, cpu)
    }

    // MARK: Orchion

    private func startCluster() throws {
        // Room for the whole volume in one attempt's log (and the index).
        let cap = options.bytes * 2 + (64 << 20)
        let server = try ServerChild(
            scratch: scratch, label: "server",
            environment: [
                "ORCHION_LOGS_MAX_BYTES_PER_ATTEMPT": "\(cap)", "ORCHION_LOGS_RETENTION_BYTES": "\(cap * 4)",
            ])
        self.server = server
        let state = "\(scratch)/agent"
        mkdir(state, 0o700)
        agentLog = "\(scratch)/agent.log"
        let binaries = PluginDirectory.executableDirectory() ?? "."
        agentPID = try spawnChild(
            [
                "\(binaries)/orchion", "agent", "run", "--server", "127.0.0.1:\(server.port)", "--node-id", "log-bench",
                "--join-token-file", "\(server.directory)/join.token", "--state-dir", state,
            ], output: agentLog)
        agentChildPID.store(agentPID, ordering: .relaxed)
        client = try blocking { [loop] in
            try await GRPCClient.connect(loop: loop.loop, to: server.address, token: ServerChild.clientToken)
        }
        let deadline = now() + 30
        while !(readText(agentLog) ?? "").contains("connected to") {
            var status: Int32 = 0
            if waitpid(agentPID, &status, WNOHANG) == agentPID {
                agentChildPID.store(0, ordering: .relaxed)
                throw BenchError("orchion agent exited (status \(status)):\n\(readText(agentLog) ?? "")")
            }
            guard now() < deadline else {
                throw BenchError("orchion agent did not connect within 30 s:\n\(readText(agentLog) ?? "")")
            }
            usleep(20_000)
        }
    }

    /// One job through the agent and the server: its seconds, and the
    /// agent's and the server's CPU seconds meanwhile.
    private func orchion(_ index: Int, expected: StreamSum) throws -> (Double, Double, Double, Double) {
        guard let server, let client else { throw BenchError("no server") }
        let start = "\(scratch)/job-\(index).start"
        let spec = Orchion_V1_JobSpec.with {
            $0.command = "exec \(shellQuote(tool)) gen \(options.bytes) \(shellQuote(start))"
            $0.resources = .with {
                $0.cpuMillis = 100
                $0.memoryBytes = 64 << 20
            }
        }
        let agentBefore = cpuSeconds(of: agentPID)
        let serverBefore = server.cpuSeconds() ?? 0
        let job: Orchion_V1_Job = try blocking {
            try await client.unary(
                "/orchion.v1.ControlService/SubmitJob", Orchion_V1_SubmitJobRequest.with { $0.spec = spec },
                timeoutMillis: 10_000)
        }
        let log = "\(server.directory)/logs/\(job.id)/1.log"
        let deadline = now() + 300
        var info = stat()
        while stat(log, &info) != 0 || UInt64(info.st_size) < options.bytes {
            guard now() < deadline else {
                throw BenchError(
                    "job \(job.id): the server's log holds \(info.st_size) of \(options.bytes) bytes after 300 s;"
                        + " the agent's log:\n\(readText(agentLog) ?? "")")
            }
            usleep(1_000)
        }
        let end = monotonicNanos()
        let agentCPU = cpuSeconds(of: agentPID) - agentBefore
        let serverCPU = (server.cpuSeconds() ?? 0) - serverBefore
        let began = try startTime(start)
        try waitSucceeded(job.id, client: client)
        let found = try sum("\(shellQuote(tool)) sum \(shellQuote(log))")
        guard found == expected else {
            throw BenchError("job \(job.id): the server's log file: expected \(expected), found \(found)")
        }
        var index = stat()
        let records = stat("\(server.directory)/logs/\(job.id)/1.idx", &index) == 0 ? Double(index.st_size / 32) : 0
        removeTree("\(server.directory)/logs/\(job.id)")
        return (Double(end - began) / 1e9, agentCPU, serverCPU, records)
    }

    private func waitSucceeded(_ id: String, client: GRPCClient) throws {
        let deadline = now() + 60
        while true {
            let job: Orchion_V1_Job = try blocking {
                try await client.unary(
                    "/orchion.v1.ControlService/GetJob", Orchion_V1_GetJobRequest.with { $0.id = id },
                    timeoutMillis: 10_000)
            }
            if job.state == .succeeded { return }
            guard job.state != .failed, job.state != .cancelled, job.state != .lost, now() < deadline else {
                throw BenchError("job \(id): expected it to succeed, found \(job.state)")
            }
            usleep(10_000)
        }
    }

    // MARK: The table

    private func printTable(generator: [Double], runs: [LogRun], expected: StreamSum) {
        let mebibytes = Double(options.bytes) / Double(1 << 20)
        func rate(_ seconds: Double) -> Double { mebibytes / seconds }
        func chunkKiB(_ records: Double) -> Double { records > 0 ? Double(options.bytes) / 1024 / records : 0 }
        func list(_ values: [Double]) -> String { values.map { "\(Int($0.rounded()))" }.joined(separator: ", ") }
        let baseline = runs.map { rate($0.baselineSeconds) }
        let orchion = runs.map { rate($0.orchionSeconds) }
        let ratios = runs.map { $0.baselineSeconds / $0.orchionSeconds }
        let lines = expected.text.split(separator: " ").dropFirst().first ?? "?"
        print(
            "\(Int(mebibytes)) MiB of stdout, \(lines) lines of 1 to 199 bytes, per run; \(runs.count) runs,"
                + " interleaved; median shown, every run in brackets. Every run's output matched the generator's"
                + " byte count, line count and FNV-1a hash.")
        print("")
        print("| path | MiB/s | runs (MiB/s) | of the baseline |")
        print("|---|---:|---:|---:|")
        print(
            "| generator alone (`logtool gen`, 64 KiB writes into a pipe read by a drain) | "
                + "\(Int(median(generator.map(rate)).rounded())) | \(list(generator.map(rate))) | |")
        print(
            "| baseline: pipe → copier → 127.0.0.1 TCP → receiver → file (C, 64 KiB read/write) | "
                + "\(Int(median(baseline).rounded())) | \(list(baseline)) | 100 % |")
        print(
            "| orchion: job stdout → `orchion agent` → gRPC → `orchion server` → log file | "
                + "\(Int(median(orchion).rounded())) | \(list(orchion)) | "
                + "\(Int((median(ratios) * 100).rounded())) % |")
        print("")
        let agentCPU = runs.map { $0.agentCPU }
        let serverCPU = runs.map { $0.serverCPU }
        let wall = runs.map { $0.orchionSeconds }
        let baselineCPU = runs.map { $0.baselineCPU }
        func row(_ label: String, _ values: [Double]) {
            print("| \(label) | \(fixed3(median(values))) | \(fixed3List(values)) |")
        }
        print("| per run | median | runs |")
        print("|---|---:|---:|")
        row("orchion: wall seconds (generator start → last byte in the log file)", wall)
        row("orchion: agent CPU seconds (utime + stime, its threads, not the job)", agentCPU)
        row("orchion: server CPU seconds (utime + stime)", serverCPU)
        print(
            "| orchion: KiB per chunk stored (the log's bytes / its index records) | "
                + "\(fixed3(median(runs.map { chunkKiB($0.records) }))) | "
                + "\(fixed3List(runs.map { chunkKiB($0.records) })) |")
        row("baseline: CPU seconds of the generator, copier and receiver together", baselineCPU)
        print(
            "| ratio to the baseline, per interleaved pair | \(Int((median(ratios) * 100).rounded())) % | "
                + "\(ratios.map { "\(Int(($0 * 100).rounded())) %" }.joined(separator: ", ")) |")
    }
}

// MARK: Helpers

private func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

private func fixed3(_ value: Double) -> String { String(format3: value) }
private func fixed3List(_ values: [Double]) -> String { values.map(fixed3).joined(separator: ", ") }

private func monotonicNanos() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// The CLOCK_MONOTONIC nanoseconds `logtool gen` wrote to `path` when it began.
private func startTime(_ path: String) throws -> UInt64 {
    guard let text = readText(path), let value = UInt64(text.trimmingWhitespace) else {
        throw BenchError("expected the generator's start time in \(path), found '\(readText(path) ?? "nothing")'")
    }
    unlink(path)
    return value
}

/// User plus system CPU seconds of process `pid` (its threads, not its children).
private func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = readText("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// User plus system CPU seconds of this process's reaped children.
private func childrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

private func shellQuote(_ text: String) -> String { "'" + text.replacing("'", with: #"'\''"#) + "'" }

extension String {
    fileprivate var trimmingWhitespace: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

extension LogBench {
    /// `logtool sum`'s answer for what `command` prints.
    fileprivate func sum(_ command: String) throws -> StreamSum {
        let (status, output) = try runChild(["/bin/sh", "-c", command])
        guard status == 0 else { throw BenchError("'\(command)' failed (status \(status)): \(output)") }
        return StreamSum(text: output.trimmingWhitespace)
    }

    /// Runs `arguments` (found on PATH) to its end: its exit status and its stdout and stderr.
    fileprivate func runChild(_ arguments: [String]) throws -> (Int32, String) {
        let output = "\(scratch)/child.out"
        defer { unlink(output) }
        let pid = try spawnChild(arguments, output: output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (code, readText(output) ?? "")
    }
}

/// Starts `arguments` (found on PATH) with stdin from /dev/null and stdout
/// and stderr to the file `output`; returns its PID.
private func spawnChild(_ arguments: [String], output: String) throws -> Int32 {
    let log = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard log >= 0 else { throw BenchError("cannot create \(output): \(String(cString: strerror(errno)))") }
    defer { close(log) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, log, 1)
    posix_spawn_file_actions_adddup2(&actions, log, 2)
    var pid: pid_t = 0
    let variables = ProcessEnvironment.current.map { "\($0.key)=\($0.value)" }.filter { !$0.hasPrefix("ORCHION_") }
    let status = withCStrings(arguments) { argv in
        withCStrings(variables) { envp in posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp) }
    }
    guard status == 0 else { throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(status)))") }
    return pid
}

/// Writes `text` to a new file at `path`.
private func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    writeLine(fd, text)
}

/// Runs `body` as a task and waits for it on this thread (the bench's main
/// thread only polls files and processes).
private func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = CountingSemaphore(0)
    Task {
        do {
            let value = try await body()
            result.withLock { $0 = .success(value) }
        } catch {
            result.withLock { $0 = .failure(error) }
        }
        done.post()
    }
    done.wait()
    guard let outcome = result.withLock({ $0 }) else { throw BenchError("the task ended without a result") }
    return try outcome.get()
}
