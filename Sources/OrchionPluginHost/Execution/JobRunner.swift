import Glibc
import OrchionCore
import OrchionLoop

/// Runs one job: asks the executor plugin for a launch, spawns it with libuv
/// in its own process group, forwards its output, enforces its timeout
/// (SIGTERM to the group, SIGKILL after `killGrace`), and reports the
/// executor's verdict once the process has exited and both output streams
/// are drained.
///
/// A runner keeps itself alive until `completion` has run.
///
/// Threading: loop thread only.
public final class JobRunner {
    private let executor: ExecutorPlugin
    private let spec: JobSpec
    private let onOutput: (OutputStream, UnsafeRawBufferPointer) -> Void
    private let completion: (JobOutcome) -> Void
    private var process: ChildProcess?
    private var timer: Timer?
    private var timedOut = false
    private var exit: ExitStatus?
    private var openStreams = 2
    /// Milliseconds between SIGTERM and SIGKILL on timeout or cancel.
    public var killGrace: UInt64 = 2_000

    /// Prepares and starts `spec`. Throws when the executor refuses the spec
    /// or the process cannot be spawned; then nothing is left running.
    public init(
        loop: EventLoop, executor: ExecutorPlugin, spec: JobSpec,
        onOutput: @escaping (OutputStream, UnsafeRawBufferPointer) -> Void,
        completion: @escaping (JobOutcome) -> Void
    ) throws {
        self.executor = executor
        self.spec = spec
        self.onOutput = onOutput
        self.completion = completion
        let launch = try executor.prepare(spec)
        var options = ProcessOptions(arguments: launch.arguments)
        options.file = launch.file
        options.environment = launch.environment
        options.workingDirectory = launch.workingDirectory
        options.memoryLimitBytes = launch.memoryLimitBytes
        if let user = launch.user {
            guard let account = getpwnam(user) else { throw JobRunnerError.unknownUser(user) }
            options.userID = account.pointee.pw_uid
            options.groupID = account.pointee.pw_gid
        }
        let process = try ChildProcess(loop: loop, options: options) { status in self.exited(status) }
        self.process = process
        try read(process.stdout!, as: .stdout)
        try read(process.stderr!, as: .stderr)
        if launch.timeoutMillis > 0 {
            let timer = try Timer(loop: loop)
            self.timer = timer
            timer.start(after: launch.timeoutMillis) { [weak self] in
                self?.timedOut = true
                self?.terminate()
            }
        }
    }

    /// The process id, while it runs.
    public var pid: Int32? { process.map(\.pid) }

    private func read(_ pipe: Pipe, as stream: OutputStream) throws(LoopError) {
        try pipe.startReading { event in
            switch event {
            case .data(let bytes): self.onOutput(stream, bytes)
            case .eof, .error:
                pipe.close()
                self.openStreams -= 1
                self.finishIfDone()
            }
        }
    }

    /// Stops the job: SIGTERM to its process group, SIGKILL after `killGrace`.
    public func terminate() {
        guard let process, !process.exited else { return }
        try? process.kill(SIGTERM)
        timer?.stop()
        timer?.start(after: killGrace) { [weak self] in
            guard let process = self?.process, !process.exited else { return }
            try? process.kill(SIGKILL)
        }
    }

    private func exited(_ status: ExitStatus) {
        exit = status
        timer?.close()
        timer = nil
        finishIfDone()
    }

    private func finishIfDone() {
        guard openStreams == 0, let exit else { return }
        process = nil
        let (verdict, reason) = executor.classify(spec, status: exit, timedOut: timedOut)
        completion(JobOutcome(status: exit, timedOut: timedOut, verdict: verdict, reason: reason))
    }
}

/// Why a job could not be started.
public enum JobRunnerError: Error, CustomStringConvertible {
    /// The launch names a user this machine does not have.
    case unknownUser(String)

    public var description: String {
        switch self {
        case .unknownUser(let user): "unknown user '\(user)': expected an account on this machine"
        }
    }
}
