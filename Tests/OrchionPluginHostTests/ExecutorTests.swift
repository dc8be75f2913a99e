import Foundation
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import Synchronization
import TestSupport
import Testing

/// The exec executor, through the ABI, running real processes.
@Suite struct ExecutorTests {
    private func executor(_ config: [String: String] = [:]) throws -> ExecutorPlugin {
        try ExecutorPlugin(try PluginLibrary.open(Paths.builtin("exec")), config: config)
    }

    @Test func commandsRunUnderAShellWithACleanEnvironment() throws {
        setenv("ORCHION_JOIN_TOKEN", "secret-should-not-leak", 1)
        defer { unsetenv("ORCHION_JOIN_TOKEN") }
        let launch = try executor().prepare(
            JobSpec(id: "j1", command: "echo $GREETING", env: ["GREETING": "hi"], cwd: "/tmp"))
        #expect(launch.file == "/bin/sh")
        #expect(launch.arguments == ["/bin/sh", "-c", "echo $GREETING"])
        #expect(launch.environment.contains("GREETING=hi"))
        #expect(launch.environment.contains("ORCHION_JOB_ID=j1"))
        #expect(!launch.environment.contains { $0.contains("secret") }, "the agent's environment never reaches jobs")
        #expect(launch.workingDirectory == "/tmp")
    }

    @Test func argvRunsDirectlyAndMemoryLimitsAreOptIn() throws {
        let spec = JobSpec(id: "j2", argv: ["python3", "-V"], requirements: JobRequirements(memoryBytes: 1 << 30))
        #expect(try executor().prepare(spec).memoryLimitBytes == 0)
        let limited = try executor(["memory_limit": "address-space"]).prepare(spec)
        #expect(limited.arguments == ["python3", "-V"] && limited.memoryLimitBytes == 1 << 30)
    }

    @Test func aSpecWithoutAProgramIsRefusedWithTheReason() throws {
        #expect(
            throws: PluginError.callFailed(
                name: "exec", function: "prepare", status: 1,
                message: "job j3: expected a command or an argv, found neither")
        ) {
            try executor().prepare(JobSpec(id: "j3"))
        }
    }

    @Test func anUnknownUserIsRefusedBeforeAnythingRuns() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let library = try PluginLibrary.open(Paths.builtin("exec"))
        let message: String = try await loop.submit {
            let exec = try ExecutorPlugin(library)
            do {
                _ = try JobRunner(
                    loop: loop, executor: exec, spec: JobSpec(id: "u", command: "true", user: "no-such-user-orchion"),
                    onOutput: { _, _ in }, completion: { _ in })
                return "started"
            } catch {
                return "\(error)"
            }
        }
        try thread.shutdown()
        #expect(message == "unknown user 'no-such-user-orchion': expected an account on this machine")
    }

    @Test func exitsAreClassified() throws {
        let exec = try executor()
        let spec = JobSpec(id: "j4", command: "true")
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 0), stoppedBy: nil).0 == .succeeded)
        #expect(
            exec.classify(spec, status: ExitStatus(code: 2, signal: 0), stoppedBy: nil) == (
                .failed, "exited with code 2"
            ))
        #expect(exec.classify(spec, status: ExitStatus(code: 75, signal: 0), stoppedBy: nil).0 == .retryable)
        #expect(
            exec.classify(spec, status: ExitStatus(code: 0, signal: 9), stoppedBy: nil) == (
                .retryable, "killed by signal 9"
            ))
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 11), stoppedBy: nil).0 == .failed)
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 15), stoppedBy: .timedOut).0 == .failed)
    }

    @Test func aJobTheHostStoppedIsNeverRetryableForExec() throws {
        let exec = try executor()
        let spec = JobSpec(id: "j5", command: "sleep 30")
        // SIGTERM alone would be retryable (someone else killed it) ...
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 15), stoppedBy: nil).0 == .retryable)
        // ... but not when the host sent it.
        #expect(
            exec.classify(spec, status: ExitStatus(code: 0, signal: 15), stoppedBy: .cancelled) == (
                .failed, "cancelled"
            ))
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 9), stoppedBy: .cancelled).0 == .failed)
        #expect(exec.classify(spec, status: ExitStatus(code: 75, signal: 0), stoppedBy: .timedOut).0 == .failed)
    }

    @Test func theHostOverridesRetryableForAStoppedJob() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // An executor that answers RETRYABLE to everything and reports the `stopped` field it was given.
        let library = try PluginLibrary.open(try Self.build("always_retry_executor", in: dir))
        let exec = try ExecutorPlugin(library)
        let spec = JobSpec(id: "j6", command: "true")
        #expect(
            exec.classify(spec, status: ExitStatus(code: 1, signal: 0), stoppedBy: nil) == (.retryable, "stopped=0"))
        let (verdict, reason) = exec.classify(spec, status: ExitStatus(code: 0, signal: 15), stoppedBy: .cancelled)
        #expect(verdict == .failed)
        #expect(reason.hasPrefix("stopped=1; the host stopped the job (cancelled), so it is not retryable"))
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 9), stoppedBy: .timedOut).0 == .failed)
    }

    @Test func anExecutorCanShortenButNeverLengthenAJobsTimeout() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try Self.build("long_timeout_executor", in: dir))
        // UINT64_MAX from the executor: the job's own 200 ms stands.
        let greedy = try ExecutorPlugin(library)
        #expect(try greedy.prepare(JobSpec(id: "t1", command: "true", timeoutMillis: 200)).timeoutMillis == 200)
        // A job without a timeout takes the executor's.
        #expect(try greedy.prepare(JobSpec(id: "t2", command: "true")).timeoutMillis == UInt64.max)
        // The executor may shorten it, and its 0 (none) leaves the job's.
        let shorter = try ExecutorPlugin(library, config: ["timeout_ms": "50"])
        #expect(try shorter.prepare(JobSpec(id: "t3", command: "true", timeoutMillis: 200)).timeoutMillis == 50)
        let none = try ExecutorPlugin(library, config: ["timeout_ms": "0"])
        #expect(try none.prepare(JobSpec(id: "t4", command: "true", timeoutMillis: 200)).timeoutMillis == 200)
    }

    @Test func aJobRunsUnderItsOwnTimeoutWhenTheExecutorAsksForTheLongestThereIs() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try Self.build("long_timeout_executor", in: dir))
        let thread = try LoopThread()
        let loop = thread.loop
        let started = monotonic()
        let line: String = try await loop.submitAsync { finish in
            let exec = try ExecutorPlugin(library)
            // Were UINT64_MAX used, this would run its whole 10 s.
            let spec = JobSpec(id: "capped", command: "sleep 10", timeoutMillis: 200)
            let runner = try JobRunner(loop: loop, executor: exec, spec: spec, onOutput: { _, _ in }) { outcome in
                finish("timedOut=\(outcome.timedOut) stoppedBy=\(outcome.stoppedBy?.rawValue ?? "none")")
            }
            runner.killGrace = 200
        }
        try thread.shutdown()
        #expect(line == "timedOut=true stoppedBy=\(HostStop.timedOut.rawValue)", "\(line)")
        #expect(monotonic() - started < 5_000_000_000, "stopped at the job's timeout, not the executor's")
    }

    /// Builds `Tests/Fixtures/NAME.c` into `dir/NAME.so`.
    private static func build(_ name: String, in dir: URL) throws -> String {
        let source = Paths.root.appendingPathComponent("Tests/Fixtures/\(name).c")
        let output = dir.appendingPathComponent("\(name).so").path
        let include = Paths.root.appendingPathComponent("sdk/c/include").path
        let result = try runCommand(
            [
                "cc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-shared", "-fPIC", "-I", include, "-o", output,
                source.path,
            ])
        guard result.status == 0 else { throw CPlugins.BuildFailed(output: result.stderr) }
        return output
    }

    @Test func aSlowExecutorRunsOnItsOwnThreadAndNeverStallsTheLoop() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try Self.build("slow_executor", in: dir))
        let thread = try LoopThread()
        let loop = thread.loop
        let calls = Mutex<[String]>([])
        let executor = try await ExecutorService(
            library, config: ["classify_ms": "1500"],
            sink: { _, event in
                if case .log(_, let line) = event {
                    calls.withLock { $0.append("\(line) onLoop=\(loop.inLoopThread)") }
                }
            })
        // A 20 ms heartbeat on the loop, recording when it fires.
        let beats = Mutex<[UInt64]>([])
        let heartbeat: LoopBound<OrchionLoop.Timer> = try await loop.submit {
            let timer = try OrchionLoop.Timer(loop: loop)
            timer.start(after: 20, repeat: 20) { beats.withLock { $0.append(monotonic()) } }
            return LoopBound(timer, loop: loop)
        }
        let started = monotonic()
        let outcome: JobOutcome = try await loop.submitAsync { finish in
            var output = ""
            JobRunner.start(
                loop: loop, executor: executor, spec: JobSpec(id: "s", command: "echo hi"),
                onOutput: { _, bytes in output += String(decoding: bytes, as: UTF8.self) },
                started: { started in
                    if case .failure(let error) = started { Issue.record("not started: \(error)") }
                },
                completion: { outcome in
                    #expect(output == "hi\n")
                    finish(outcome)
                })
        }
        let finished = monotonic()
        try await loop.submit { heartbeat.wrapped.close() }
        executor.shutdown()
        try thread.shutdown()

        #expect(outcome.verdict == .succeeded && outcome.reason == "slept 1500 ms")
        #expect(finished - started >= 1_500_000_000, "classify really blocked its thread for 1.5 s")
        let during = beats.withLock { $0 }.filter { $0 >= started && $0 <= finished }
        let gaps = zip([started] + during, during + [finished]).map { $1 - $0 }
        #expect(during.count >= 10, "the heartbeat kept firing: \(during.count) beats in 1.5 s")
        #expect((gaps.max() ?? .max) < 500_000_000, "longest gap between beats: \((gaps.max() ?? 0) / 1_000_000) ms")
        #expect(
            calls.withLock { $0 } == ["init onLoop=false", "prepare onLoop=false", "classify onLoop=false"],
            "every executor call ran off the loop thread")
    }

    @Test func anExecutorsRefusalReachesStartedAndNothingRuns() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try Self.build("slow_executor", in: dir))
        let thread = try LoopThread()
        let loop = thread.loop
        let executor = try await ExecutorService(library)
        let message: String = try await loop.submitAsync { finish in
            JobRunner.start(
                loop: loop, executor: executor, spec: JobSpec(id: "argv", argv: ["true"]), onOutput: { _, _ in },
                started: { started in
                    switch started {
                    case .success: finish("started")
                    case .failure(let error): finish("\(error)")
                    }
                },
                completion: { _ in Issue.record("a job that never started completed") })
        }
        executor.shutdown()
        try thread.shutdown()
        #expect(message == "plugin 'slow-exec': prepare failed (status 1): expected a command")
    }

    @Test func aCancelledJobIsStoppedAndReportedAsCancelled() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let library = try PluginLibrary.open(Paths.builtin("exec"))
        let outcome: JobOutcome = try await loop.submitAsync { finish in
            let exec = try ExecutorPlugin(library)
            var runner: JobRunner?
            // Cancel once the shell says it ignores SIGTERM (and so will its sleep).
            runner = try JobRunner(
                loop: loop, executor: exec,
                spec: JobSpec(id: "c", argv: ["/bin/sh", "-c", "trap '' TERM; echo ready; sleep 30"]),
                onOutput: { _, bytes in
                    if String(decoding: bytes, as: UTF8.self).contains("ready") { runner?.cancel() }
                },
                completion: { outcome in
                    runner = nil  // no cycle left behind
                    finish(outcome)
                })
            runner?.killGrace = 100
        }
        try thread.shutdown()
        #expect(outcome.stoppedBy == .cancelled && !outcome.timedOut)
        // It ignored SIGTERM, so the grace period ended in SIGKILL — with no timeout timer to reuse.
        #expect(outcome.status.signal == 9)
        #expect(outcome.verdict == .failed && outcome.reason == "cancelled")
    }

    @Test func grantedGPUsReachTheJobsEnvironment() throws {
        let launch = try executor().prepare(JobSpec(id: "g", command: "true"), gpus: [3, 1])
        #expect(launch.environment.contains("ORCHION_GPUS=3,1"))
        #expect(launch.environment.contains("CUDA_VISIBLE_DEVICES=3,1"))
        let none = try executor().prepare(JobSpec(id: "g0", command: "true"))
        #expect(!none.environment.contains { $0.hasPrefix("ORCHION_GPUS=") || $0.hasPrefix("CUDA_VISIBLE_DEVICES=") })
    }

    @Test func jobsRunWithTheirEnvironmentAndTimeouts() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let library = try PluginLibrary.open(Paths.builtin("exec"))
        let results: [String] = try await loop.submitAsync { finish in
            let exec = try ExecutorPlugin(library)
            var lines: [String] = []
            let specs = [
                JobSpec(
                    id: "env", command: "echo \"$ORCHION_JOB_ID $GREETING\"; pwd", env: ["GREETING": "hi"], cwd: "/tmp"),
                JobSpec(id: "slow", argv: ["/bin/sh", "-c", "trap '' TERM; sleep 30"], timeoutMillis: 200),
            ]
            for spec in specs {
                var output = ""
                let runner = try JobRunner(
                    loop: loop, executor: exec, spec: spec,
                    onOutput: { _, bytes in
                        output += String(decoding: bytes, as: UTF8.self)
                    }
                ) { outcome in
                    lines.append(
                        "\(spec.id): \(outcome.verdict.rawValue) \(outcome.status) timedOut=\(outcome.timedOut) \(outcome.reason) \(output.debugDescription)"
                    )
                    if lines.count == specs.count { finish(lines.sorted()) }
                }
                runner.killGrace = 200
            }
        }
        try thread.shutdown()
        #expect(
            results == [
                "env: succeeded exited with code 0 timedOut=false exited with code 0 \"env hi\\n/tmp\\n\"",
                // The job ignores SIGTERM, so the grace period ends in SIGKILL.
                "slow: failed killed by signal 9 timedOut=true timed out after 200 ms \"\"",
            ])
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
private func monotonic() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
