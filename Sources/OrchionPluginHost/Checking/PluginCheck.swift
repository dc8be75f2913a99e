import Glibc
import OrchionCore
import OrchionLoop

/// The result of exercising a plugin.
public struct CheckReport: Sendable {
    /// One line per step, for people.
    public var lines: [String] = []
    /// Whether every step behaved.
    public var passed = true
    /// Told each line as it is added, and the name of each phase before the
    /// plugin's code runs in it ("init", "place", ...), so a caller that
    /// loses the check midway (the plugin exited) can say where.
    var progress: @Sendable (CheckProgress) -> Void = { _ in }

    mutating func step(_ ok: Bool, _ line: String) {
        note((ok ? "ok    " : "FAIL  ") + line)
        if !ok { passed = false }
    }

    /// Adds a line that is neither a pass nor a failure.
    mutating func note(_ line: String) {
        lines.append(line)
        progress(.line(line))
    }

    func phase(_ name: String) { progress(.phase(name)) }
}

/// What a running check has got to.
public enum CheckProgress: Sendable {
    /// A report line was added.
    case line(String)
    /// Plugin code is about to run in this phase.
    case phase(String)
}

/// Runs one check job with an executor instance on the loop thread and
/// calls `finish` (on the loop thread) with its outcome and output, or with
/// why it did not start. The agent's `JobRunner` provides it (the plugin
/// host does not run jobs itself).
public typealias CheckJobRunner =
    @Sendable (
        _ loop: EventLoop, _ executor: ExecutorPlugin, _ spec: JobSpec,
        _ finish: @escaping (Result<(JobOutcome, String), any Error>) -> Void
    ) -> Void

/// Loads, initialises and exercises a plugin against synthetic work, checking
/// everything it answers the way the host would in production.
public enum PluginCheck {
    /// Exercises `library` (either kind). Executors run real processes on `loop`,
    /// which must be running on another thread.
    ///
    /// `budgetMillis` is the time one scheduling call may take; the check
    /// fails when its slowest call takes longer. `progress` hears each line
    /// and phase as the check goes (it runs on the calling thread or the loop).
    /// `runJob` runs an executor's check jobs; without it an executor's
    /// `prepare` and `classify` are checked but no job runs.
    public static func run(
        _ library: PluginLibrary, loop: EventLoop, config: [String: String] = [:], budgetMillis: Int = 1000,
        runJob: CheckJobRunner? = nil,
        progress: @escaping @Sendable (CheckProgress) -> Void = { _ in }
    ) async -> CheckReport {
        var report = CheckReport()
        report.progress = progress
        var events = 0
        let sink: PluginEventSink = { _, _ in events += 1 }
        report.step(
            true,
            "descriptor: \(library.info.kind.rawValue) '\(library.info.name)' \(library.info.version), ABI \(library.info.abi)"
        )
        switch library.info.kind {
        case .scheduler:
            do {
                report.phase("init")
                let plugin = try SchedulerPlugin(library, config: config, sink: sink)
                report.step(true, "init")
                checkScheduler(plugin, budgetMillis: budgetMillis, &report)
                report.phase("destroy")
            } catch {
                report.step(false, "init: \(error)")
            }
        case .executor:
            await checkExecutor(library, loop: loop, config: config, runJob: runJob, &report)
        }
        report.note("      \(events) host callback(s) received from the plugin")
        return report
    }

    private static func checkScheduler(_ plugin: SchedulerPlugin, budgetMillis: Int, _ report: inout CheckReport) {
        var slowest: (millis: Double, what: String) = (0, "none")
        func timed(_ what: String, _ call: () -> ScheduleResult) -> ScheduleResult {
            report.phase("place")
            let start = monotonicNanos()
            let result = call()
            let millis = Double(monotonicNanos() - start) / 1e6
            if millis >= slowest.millis { slowest = (millis, what) }
            return result
        }
        let nodes = SyntheticCluster.checkNodes()
        let view = ClusterView()
        nodes.forEach(view.store)  // valid by construction (ClusterViewAdmissionTests)
        let jobs = SyntheticCluster.jobs(64)
        let result = timed("64 jobs") { GuardedScheduler(plugin).schedule(JobBatch(jobs), in: view) }
        let notReady = Set(nodes.filter { $0.state != .ready }.map(\.id))
        report.step(
            result.failure == nil && result.invalid.isEmpty,
            "placed \(result.assignments.count) of 64 jobs on 32 nodes (\(notReady.count) not ready); "
                + "\(result.pending.count) pending, \(result.invalid.count) invalid")
        for invalid in result.invalid.prefix(5) { report.note("      \(terminalLine(invalid.description))") }
        if let failure = result.failure { report.note("      \(terminalLine(failure.description))") }
        let fitAlone = jobs.filter { job in
            nodes.contains { node in
                var ledger = NodeLedger()
                return node.state == .ready && (try? ledger.admit(job.requirements, on: node)) != nil
            }
        }
        report.step(
            !result.assignments.isEmpty || fitAlone.isEmpty,
            "placed at least one job (\(fitAlone.count) of 64 fit a ready node on their own)")
        let onNotReady = result.assignments.filter { notReady.contains($0.nodeID) }
        report.step(onNotReady.isEmpty, "no job bound to a not-ready node (\(onNotReady.count) found)")
        let gpuJobs = jobs.filter { $0.requirements.gpu.count > 0 }
        let fitting = gpuJobs.filter { job in
            nodes.contains { node in
                var ledger = NodeLedger()
                return node.state == .ready && (try? ledger.admit(job.requirements, on: node)) != nil
            }
        }
        let placedGPU = result.assignments.filter { assignment in fitting.contains { $0.id == assignment.jobID } }
        report.note(
            "      GPU jobs: \(fitting.count) of \(gpuJobs.count) fit a ready node on their own; \(placedGPU.count) placed"
        )
        reportEmptyReasons(result, "64 jobs", &report)

        let empty = timed("empty cluster") {
            GuardedScheduler(plugin).schedule(JobBatch(SyntheticCluster.jobs(4)), in: ClusterView())
        }
        report.step(
            empty.failure == nil && empty.assignments.isEmpty && empty.invalid.isEmpty && empty.pending.count == 4,
            "empty cluster: every job left pending")
        reportEmptyReasons(empty, "empty cluster", &report)

        let none = timed("empty batch") { GuardedScheduler(plugin).schedule(JobBatch([]), in: view) }
        report.step(none.failure == nil && none.assignments.isEmpty, "empty batch")

        let shown = (slowest.millis * 10).rounded() / 10
        report.step(
            slowest.millis <= Double(budgetMillis),
            "slowest place() call: \(shown) ms (\(slowest.what)), budget \(budgetMillis) ms")
    }

    /// A failed step naming the jobs left pending with an empty reason, or a
    /// passed one when there are none. `SchedulerPlugin` shows an empty
    /// reason as "no reason given by <name>": that counts as empty here.
    private static func reportEmptyReasons(_ result: ScheduleResult, _ scenario: String, _ report: inout CheckReport) {
        let placeholder = "no reason given by \(result.strategy)"
        let empty = result.pending.filter { $0.value.isEmpty || $0.value == placeholder }.map(\.key).sorted()
        let shown = empty.prefix(5).joined(separator: ", ") + (empty.count > 5 ? ", ..." : "")
        report.step(
            empty.isEmpty,
            empty.isEmpty
                ? "\(scenario): every pending job has a reason"
                : "\(scenario): \(empty.count) job(s) left pending with an empty reason: \(shown)")
    }

    /// `text` with control characters escaped, for a report line.
    private static func terminalLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) {
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func monotonicNanos() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }

    private static func checkExecutor(
        _ library: PluginLibrary, loop: EventLoop, config: [String: String], runJob: CheckJobRunner?,
        _ report: inout CheckReport
    ) async {
        let cases: [(String, JobSpec, ExitClass, Bool)] = [
            ("echo", JobSpec(id: "check-echo", command: "echo orchion-check"), .succeeded, false),
            ("exit 3", JobSpec(id: "check-exit", argv: ["/bin/sh", "-c", "exit 3"]), .failed, false),
            ("timeout", JobSpec(id: "check-timeout", argv: ["sleep", "30"], timeoutMillis: 300), .failed, true),
        ]
        let outcomes: [RunResult]
        do {
            report.phase("init, prepare or classify")
            outcomes = try await loop.submitAsync { finish in
                let executor = try ExecutorPlugin(library, config: config)
                guard let runJob else {
                    // No runner: prepare and classify each case without a process.
                    finish(
                        cases.map { _, spec, _, _ in
                            do {
                                _ = try executor.prepare(spec)
                                return .notRun
                            } catch {
                                return .refused("\(error)")
                            }
                        })
                    return
                }
                var results: [Int: RunResult] = [:]
                for (index, (_, spec, _, _)) in cases.enumerated() {
                    runJob(loop, executor, spec) { result in
                        switch result {
                        case .success(let (outcome, output)): results[index] = .ran(outcome, output)
                        case .failure(let error): results[index] = .refused("\(error)")
                        }
                        if results.count == cases.count {
                            finish((0..<cases.count).map { results[$0] ?? .notRun })
                        }
                    }
                }
            }
            report.step(true, "init")
        } catch {
            report.step(false, "init: \(error)")
            return
        }
        for ((name, _, expected, timedOut), outcome) in zip(cases, outcomes) {
            switch outcome {
            case .refused(let message):
                report.step(false, "\(name): \(message)")
            case .notRun:
                report.note("      \(name): prepared; not run (this build has no job runner)")
            case .ran(let result, let output):
                let outputOK = name != "echo" || output == "orchion-check\n"
                report.step(
                    result.verdict == expected && result.timedOut == timedOut && outputOK,
                    "\(name): \(result.status), \(result.verdict.rawValue) (\(result.reason))"
                        + (timedOut ? ", timed out" : "")
                        + (name == "echo" ? ", output \(output.debugDescription)" : ""))
            }
        }
    }
}

/// What became of one check job.
private enum RunResult: Sendable {
    case ran(JobOutcome, String)
    case refused(String)
    case notRun
}
