import OrchionCore
import OrchionLoop

/// The result of exercising a plugin.
public struct CheckReport: Sendable {
    /// One line per step, for people.
    public var lines: [String] = []
    /// Whether every step behaved.
    public var passed = true

    mutating func step(_ ok: Bool, _ line: String) {
        lines.append((ok ? "ok    " : "FAIL  ") + line)
        if !ok { passed = false }
    }
}

/// Loads, initialises and exercises a plugin against synthetic work, checking
/// everything it answers the way the host would in production.
public enum PluginCheck {
    /// Exercises `library` (either kind). Executors run real processes on `loop`,
    /// which must be running on another thread.
    public static func run(_ library: PluginLibrary, loop: EventLoop, config: [String: String] = [:]) async
        -> CheckReport
    {
        var report = CheckReport()
        var events = 0
        let sink: PluginEventSink = { _, _ in events += 1 }
        report.step(
            true,
            "descriptor: \(library.info.kind.rawValue) '\(library.info.name)' \(library.info.version), ABI \(library.info.abi)"
        )
        switch library.info.kind {
        case .scheduler:
            do {
                let plugin = try SchedulerPlugin(library, config: config, sink: sink)
                report.step(true, "init")
                checkScheduler(plugin, &report)
            } catch {
                report.step(false, "init: \(error)")
            }
        case .executor:
            await checkExecutor(library, loop: loop, config: config, &report)
        }
        report.lines.append("      \(events) host callback(s) received from the plugin")
        return report
    }

    private static func checkScheduler(_ plugin: SchedulerPlugin, _ report: inout CheckReport) {
        let view = ClusterView()
        SyntheticCluster.nodes(32).forEach(view.upsert)
        let batch = JobBatch(SyntheticCluster.jobs(64))
        let result = GuardedScheduler(plugin).schedule(batch, in: view)
        let ok = result.failure == nil && result.invalid.isEmpty
        report.step(
            ok,
            "placed \(result.assignments.count) of 64 jobs on 32 nodes; \(result.pending.count) pending, \(result.invalid.count) invalid"
        )
        for invalid in result.invalid.prefix(5) { report.lines.append("      \(invalid)") }
        if let failure = result.failure { report.lines.append("      \(failure)") }

        let empty = GuardedScheduler(plugin).schedule(JobBatch(SyntheticCluster.jobs(4)), in: ClusterView())
        let reasons = empty.pending.values.allSatisfy { !$0.isEmpty }
        report.step(
            empty.failure == nil && empty.assignments.isEmpty && empty.invalid.isEmpty && reasons,
            "empty cluster: every job left pending with a reason")

        let none = GuardedScheduler(plugin).schedule(JobBatch([]), in: view)
        report.step(none.failure == nil && none.assignments.isEmpty, "empty batch")
    }

    private static func checkExecutor(
        _ library: PluginLibrary, loop: EventLoop, config: [String: String], _ report: inout CheckReport
    ) async {
        let cases: [(String, JobSpec, ExitClass, Bool)] = [
            ("echo", JobSpec(id: "check-echo", command: "echo orchion-check"), .succeeded, false),
            ("exit 3", JobSpec(id: "check-exit", argv: ["/bin/sh", "-c", "exit 3"]), .failed, false),
            ("timeout", JobSpec(id: "check-timeout", argv: ["sleep", "30"], timeoutMillis: 300), .failed, true),
        ]
        let outcomes: [RunResult]
        do {
            outcomes = try await loop.submitAsync { finish in
                let executor = try ExecutorPlugin(library, config: config)
                var results: [Int: RunResult] = [:]
                for (index, (_, spec, _, _)) in cases.enumerated() {
                    var output: [UInt8] = []
                    do {
                        let runner = try JobRunner(
                            loop: loop, executor: executor, spec: spec,
                            onOutput: { _, bytes in
                                output += bytes
                            }
                        ) { outcome in
                            results[index] = .ran(outcome, String(decoding: output, as: UTF8.self))
                            if results.count == cases.count { finish((0..<cases.count).map { results[$0]! }) }
                        }
                        runner.killGrace = 500
                    } catch {
                        results[index] = .refused("\(error)")
                        if results.count == cases.count { finish((0..<cases.count).map { results[$0]! }) }
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
}
