import Foundation
import OrchionAgent
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import Synchronization
import TestSupport
import Testing

/// A loop thread, an `ExecutionRuntime` with the built-in `exec` executor
/// (and any others given), and a temp directory: what each runner test
/// needs, torn down by `shutdown()`.
final class RunnerHarness: Sendable {
    let thread: LoopThread
    let runtime: ExecutionRuntime
    let catalog: ExecutorCatalog
    let directory: URL
    /// Lines the runtime logged.
    let log = LogLines()

    var loop: EventLoop { thread.loop }

    /// The exec helper as `swift build` made it.
    static var spawnHelper: String { Paths.build.appendingPathComponent("orchion-spawn").path }

    init(
        cgroups: ExecutionSettings.Cgroups = .off, extra: [PluginLibrary] = [],
        tweak: (inout ExecutionSettings) -> Void = { _ in }
    ) async throws {
        directory = try Paths.temporaryDirectory("orchion-runner")
        let libraries = [try PluginLibrary.open(Paths.builtin("exec"))] + extra
        let (catalog, failures) = await ExecutorCatalog.load(libraries)
        #expect(failures.isEmpty, "\(failures)")
        self.catalog = catalog
        var settings = ExecutionSettings(spillDirectory: directory.path)
        settings.spawnHelper = Self.spawnHelper
        settings.cgroups = cgroups
        settings.killGraceMillis = 300
        settings.exitGraceMillis = 300
        tweak(&settings)
        let log = self.log
        do {
            runtime = try ExecutionRuntime(settings: settings, executors: catalog) { line in
                log.lines.withLock { $0.append(line) }
            }
        } catch {
            catalog.shutdown()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        thread = try LoopThread()
    }

    func shutdown() throws {
        try thread.shutdown()
        runtime.shutdown()
        catalog.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    /// What one run produced.
    struct Run: Sendable {
        let report: AttemptReport
        let chunks: [OutputChunk]
        let millis: UInt64

        func text(_ stream: OrchionCore.OutputStream) -> String {
            String(decoding: chunks.filter { $0.stream == stream }.flatMap(\.bytes), as: UTF8.self)
        }
    }

    /// Runs `assignment` to completion. `onChunk` sees each chunk with the
    /// runner (to cancel it) and returns whether to take more; a false
    /// answer is followed by `resumeOutput()` after `resumeAfterMillis`.
    func run(
        _ assignment: JobAssignment, resumeAfterMillis: UInt64 = 1,
        onChunk: @escaping @Sendable (OutputChunk, JobRunner) -> Bool = { _, _ in true }
    ) async throws -> Run {
        let loop = self.loop
        let runtime = self.runtime
        let started = nowMillis()
        let (report, chunks): (AttemptReport, [OutputChunk]) = try await loop.submitAsync { finish in
            var chunks: [OutputChunk] = []
            var runner: JobRunner?
            let resume = try OrchionLoop.Timer(loop: loop)
            JobRunner.start(
                loop: loop, runtime: runtime, assignment: assignment,
                onOutput: { chunk in
                    chunks.append(chunk)
                    guard let current = runner else { return true }
                    if onChunk(chunk, current) { return true }
                    resume.start(after: resumeAfterMillis) { runner?.resumeOutput() }
                    return false
                },
                started: { result in
                    switch result {
                    case .success(let started): runner = started
                    case .failure(let error):
                        resume.close()
                        Issue.record("not started: \(error)")
                    }
                },
                completion: { report in
                    runner = nil
                    resume.close()
                    finish((report, chunks))
                })
        }
        return Run(report: report, chunks: chunks, millis: nowMillis() - started)
    }

    /// Starts `assignment` and returns why it did not start (or "started").
    func startFailure(_ assignment: JobAssignment) async throws -> String {
        let loop = self.loop
        let runtime = self.runtime
        return try await loop.submitAsync { finish in
            JobRunner.start(
                loop: loop, runtime: runtime, assignment: assignment, onOutput: { _ in true },
                started: { result in
                    switch result {
                    case .success(let runner):
                        runner.cancel()
                        finish("started")
                    case .failure(let error): finish("\(error)")
                    }
                }, completion: { _ in })
        }
    }
}

/// Lines a runtime logged, from any thread.
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])
}

/// CLOCK_MONOTONIC in milliseconds.
func nowMillis() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec) / 1_000_000
}

/// Whether process `pid` is gone or only a zombie.
func processIsGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// Polls `condition` every 10 ms for at most `millis`.
func eventually(within millis: UInt64, _ condition: () -> Bool) async -> Bool {
    let deadline = nowMillis() + millis
    while nowMillis() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}
