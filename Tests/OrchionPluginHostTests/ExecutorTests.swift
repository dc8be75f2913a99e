import Foundation
import OrchionCore
import OrchionLoop
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
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 0), timedOut: false).0 == .succeeded)
        #expect(
            exec.classify(spec, status: ExitStatus(code: 2, signal: 0), timedOut: false) == (
                .failed, "exited with code 2"
            ))
        #expect(exec.classify(spec, status: ExitStatus(code: 75, signal: 0), timedOut: false).0 == .retryable)
        #expect(
            exec.classify(spec, status: ExitStatus(code: 0, signal: 9), timedOut: false) == (
                .retryable, "killed by signal 9"
            ))
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 11), timedOut: false).0 == .failed)
        #expect(exec.classify(spec, status: ExitStatus(code: 0, signal: 15), timedOut: true).0 == .failed)
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
                        "\(spec.id): \(outcome.verdict.rawValue) \(outcome.status) timedOut=\(outcome.timedOut) \(output.debugDescription)"
                    )
                    if lines.count == specs.count { finish(lines.sorted()) }
                }
                runner.killGrace = 200
            }
        }
        try thread.shutdown()
        #expect(
            results == [
                "env: succeeded exited with code 0 timedOut=false \"env hi\\n/tmp\\n\"",
                // The job ignores SIGTERM, so the grace period ends in SIGKILL.
                "slow: failed killed by signal 9 timedOut=true \"\"",
            ])
    }
}
