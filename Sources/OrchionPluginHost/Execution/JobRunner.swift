import Glibc
import OrchionCore
import OrchionLoop

/// Runs one job: asks the executor plugin for a launch, spawns it with libuv
/// in its own process group, forwards its output, enforces its timeout and
/// cancellation (SIGTERM to the group, SIGKILL after `killGrace`), and
/// reports the executor's verdict — told whether the host stopped the job —
/// once the process has exited and both output streams are drained.
///
/// Started with `start(loop:executor:...)` on an `ExecutorService`, the
/// executor's code runs on the executor's own thread and never on the loop;
/// the `init` taking an `ExecutorPlugin` calls it on the loop thread (for
/// `orchion plugin check`, whose loop serves nothing else).
///
/// A runner keeps itself alive until `completion` has run.
///
/// Threading: loop thread only.
public final class JobRunner {
    /// How the runner reaches its executor.
    private enum Executor {
        /// Called inline, on the loop thread.
        case inline(ExecutorPlugin)
        /// Called on the executor's own thread.
        case service(ExecutorService)
    }

    private let executor: Executor
    private let spec: JobSpec
    private let onOutput: (OutputStream, UnsafeRawBufferPointer) -> Void
    private let completion: (JobOutcome) -> Void
    private let loop: EventLoop
    private var process: ChildProcess?
    private var timer: Timer?
    private var stoppedBy: HostStop?
    private var exit: ExitStatus?
    private var openStreams = 2
    /// Milliseconds between SIGTERM and SIGKILL on timeout or cancel.
    public var killGrace: UInt64 = 2_000

    /// Prepares and starts `spec` with the GPUs it was granted (device
    /// indices, passed to the executor to pin), calling the executor on this
    /// (the loop) thread. Throws when the executor refuses the spec or the
    /// process cannot be spawned; then nothing is left running.
    public convenience init(
        loop: EventLoop, executor: ExecutorPlugin, spec: JobSpec, gpus: [UInt32] = [],
        onOutput: @escaping (OutputStream, UnsafeRawBufferPointer) -> Void,
        completion: @escaping (JobOutcome) -> Void
    ) throws {
        self.init(loop: loop, executor: .inline(executor), spec: spec, onOutput: onOutput, completion: completion)
        try spawn(try executor.prepare(spec, gpus: gpus))
    }

    private init(
        loop: EventLoop, executor: Executor, spec: JobSpec,
        onOutput: @escaping (OutputStream, UnsafeRawBufferPointer) -> Void,
        completion: @escaping (JobOutcome) -> Void
    ) {
        self.loop = loop
        self.executor = executor
        self.spec = spec
        self.onOutput = onOutput
        self.completion = completion
    }

    /// Asks `executor`, on its own thread, how to start `spec` with the GPUs
    /// it was granted, then spawns the process on `loop`. `started` runs on
    /// the loop thread with the running job, or with why it could not start
    /// (the executor's refusal, an unknown user, a spawn error; then nothing
    /// runs and `completion` is never called). `completion` runs on the loop
    /// thread once the job finished and the executor — again on its own
    /// thread — has classified it. Call on the loop thread.
    public static func start(
        loop: EventLoop, executor: ExecutorService, spec: JobSpec, gpus: [UInt32] = [],
        onOutput: @escaping (OutputStream, UnsafeRawBufferPointer) -> Void,
        started: @escaping (Result<JobRunner, any Error>) -> Void,
        completion: @escaping (JobOutcome) -> Void
    ) {
        let callbacks = LoopBound((onOutput, started, completion), loop: loop)
        executor.prepare(spec, gpus: gpus) { prepared in
            loop.execute {
                let (onOutput, started, completion) = callbacks.wrapped
                do {
                    let runner = JobRunner(
                        loop: loop, executor: .service(executor), spec: spec, onOutput: onOutput,
                        completion: completion)
                    try runner.spawn(try prepared.get())
                    started(.success(runner))
                } catch {
                    started(.failure(error))
                }
            }
        }
    }

    /// Spawns the process `launch` describes and starts its timeout.
    private func spawn(_ launch: Launch) throws {
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
            timer.start(after: launch.timeoutMillis) { [weak self] in self?.stop(.timedOut) }
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

    /// Cancels the job: SIGTERM to its process group, SIGKILL after
    /// `killGrace`. The executor is told the host stopped it, so the outcome
    /// is never retryable.
    public func cancel() { stop(.cancelled) }

    /// Stops the job because it was cancelled (same as `cancel()`).
    public func terminate() { cancel() }

    private func stop(_ reason: HostStop) {
        guard let process, !process.exited, stoppedBy == nil else { return }
        stoppedBy = reason
        try? process.kill(SIGTERM)
        if timer == nil { timer = try? Timer(loop: loop) }
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
        let stoppedBy = stoppedBy
        switch executor {
        case .inline(let plugin):
            let (verdict, reason) = plugin.classify(spec, status: exit, stoppedBy: stoppedBy)
            completion(JobOutcome(status: exit, stoppedBy: stoppedBy, verdict: verdict, reason: reason))
        case .service(let service):
            let me = LoopBound(self, loop: loop)
            service.classify(spec, status: exit, stoppedBy: stoppedBy) { verdict in
                me.loop.execute {
                    me.wrapped.completion(
                        JobOutcome(status: exit, stoppedBy: stoppedBy, verdict: verdict.0, reason: verdict.1))
                }
            }
        }
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
