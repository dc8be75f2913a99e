import Foundation
import OrchionCore
import OrchionPluginHost
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

    @Test func argvRunsDirectlyAndMemoryIsLeftToTheAgentsCgroup() throws {
        let spec = JobSpec(id: "j2", argv: ["python3", "-V"], requirements: JobRequirements(memoryBytes: 1 << 30))
        let launch = try executor().prepare(spec)
        #expect(launch.arguments == ["python3", "-V"] && launch.memoryLimitBytes == 0)
        // The RLIMIT_AS option is gone: asking for it is refused with the reason.
        #expect(throws: PluginError.self) { try executor(["memory_limit": "address-space"]) }
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
        // A kill at the memory limit is the host's doing too, and says so.
        let big = JobSpec(id: "j5m", command: "true", requirements: JobRequirements(memoryBytes: 64 << 20))
        #expect(
            exec.classify(big, status: ExitStatus(code: 0, signal: 9), stoppedBy: .memoryLimit) == (
                .failed, "killed at its memory limit (67108864 bytes granted)"
            ))
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

    @Test func grantedGPUsReachTheJobsEnvironment() throws {
        let launch = try executor().prepare(JobSpec(id: "g", command: "true"), gpus: [3, 1])
        #expect(launch.environment.contains("ORCHION_GPUS=3,1"))
        #expect(launch.environment.contains("CUDA_VISIBLE_DEVICES=3,1"))
        let none = try executor().prepare(JobSpec(id: "g0", command: "true"))
        #expect(!none.environment.contains { $0.hasPrefix("ORCHION_GPUS=") || $0.hasPrefix("CUDA_VISIBLE_DEVICES=") })
    }
}
