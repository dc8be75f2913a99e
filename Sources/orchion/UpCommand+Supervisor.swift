import Glibc
import OrchionAgentDaemon
import OrchionCore
import OrchionLoop
import OrchionPluginHost

/// `orchion up`'s local agent: an `orchion agent run` child process
/// (started as `/proc/self/exe up-agent --parent PID -- agent run …`, so
/// the kernel stops it if this process dies), restarted with backoff when
/// it dies, its output copied to this terminal with `[agent] ` before each
/// line.
///
/// The child runs in its own process group, so a Ctrl-C in the terminal
/// reaches this process alone and the order of the stop is ours: `stop`
/// sends the agent SIGTERM, waits (bounded) for it to exit, and only then
/// lets the server stop. An agent that exits with status 2 (its settings
/// are wrong) is not restarted: `orchion up` stops with status 1. One that
/// exits with `AgentProcess.refusedExitStatus` (its node was removed) is
/// not restarted either; the server runs on.
///
/// Threading: loop thread only (created in the server's `started` hook).
final class AgentSupervisor {
    /// The longest the agent may take to stop before it is killed: its own
    /// bound (the jobs' kill grace plus 5 s) with room to spare.
    static let stopBoundMillis: UInt64 = 30_000
    /// Restart delays: 500 ms doubling to 30 s; back to 500 ms once an
    /// agent has run a minute.
    static let firstDelayMillis: UInt64 = 500
    static let maxDelayMillis: UInt64 = 30_000
    static let healthyAfterMillis: UInt64 = 60_000

    private let loop: EventLoop
    private let arguments: [String]
    private let stopServer: @Sendable (Int32) -> Void
    private var child: ChildProcess?
    private var startedAt: UInt64 = 0
    private var delayMillis = AgentSupervisor.firstDelayMillis
    private var restartTimer: Timer?
    private var killTimer: Timer?
    private var stopping = false
    private var proceed: (@Sendable () -> Void)?

    /// A supervisor for `orchion agent run` with `arguments` (after the
    /// program); `stopServer(status)` ends `orchion up` when the agent
    /// cannot run.
    init(loop: EventLoop, arguments: [String], stopServer: @escaping @Sendable (Int32) -> Void) {
        self.loop = loop
        self.arguments = arguments
        self.stopServer = stopServer
    }

    /// Starts the agent.
    func start() { spawn() }

    /// SIGINT or SIGTERM arrived: stops the agent, then calls `proceed`
    /// (which stops the server). A second signal while the agent stops
    /// kills it.
    func stop(signal: Int32, then proceed: @escaping @Sendable () -> Void) {
        if stopping {
            if let child, !child.exited {
                log("signal \(signal) again: killing the agent (pid \(child.pid))")
                try? child.kill(SIGKILL)
            }
            return
        }
        stopping = true
        restartTimer?.close()
        restartTimer = nil
        guard let child, !child.exited else { return proceed() }
        self.proceed = proceed
        log("stopping the agent (pid \(child.pid))")
        do {
            try child.kill(SIGTERM)
        } catch {
            log("cannot signal the agent: \(error)")
        }
        if let timer = try? Timer(loop: loop) {
            killTimer = timer
            timer.start(after: Self.stopBoundMillis) { [weak self] in
                guard let self, let child = self.child, !child.exited else { return }
                self.log("the agent did not stop within \(Self.stopBoundMillis / 1000) s: killing it")
                try? child.kill(SIGKILL)
            }
        }
    }

    private func spawn() {
        var options = ProcessOptions(
            arguments: ["orchion", "up-agent", "--parent", String(getpid()), "--"] + arguments)
        options.file = "/proc/self/exe"
        options.newProcessGroup = true
        options.stdin = .ignore
        let process: ChildProcess
        do {
            process = try ChildProcess(loop: loop, options: options) { [weak self] status in
                self?.exited(status)
            }
        } catch {
            log("cannot start the agent: \(error)")
            scheduleRestart()
            return
        }
        child = process
        startedAt = Self.monotonicMillis()
        for pipe in [process.stdout, process.stderr] {
            guard let pipe else { continue }
            let lines = PrefixedLines(prefix: "[agent] ", descriptor: 2)
            do {
                try pipe.startReading { event in
                    switch event {
                    case .data(let bytes): lines.append(bytes)
                    case .eof, .error:
                        lines.flush()
                        pipe.close()
                    }
                }
            } catch {
                pipe.close()
            }
        }
    }

    private func exited(_ status: ExitStatus) {
        child = nil
        if stopping {
            killTimer?.close()
            killTimer = nil
            log("the agent stopped (\(status))")
            let proceed = self.proceed
            self.proceed = nil
            proceed?()
            return
        }
        if status.signal == 0 && status.code == 2 {
            log("the agent refused its settings (exit status 2); stopping")
            stopping = true
            stopServer(1)
            return
        }
        if status.signal == 0 && status.code == Int64(AgentProcess.refusedExitStatus) {
            // Restarting would be refused again until an admin admits the node.
            log(
                "the local node was removed from the cluster (agent exit status \(status.code)): not restarting "
                    + "its agent; the server runs on; after `orchion node admit NODE`, restart `orchion up`")
            return
        }
        if Self.monotonicMillis() &- startedAt >= Self.healthyAfterMillis { delayMillis = Self.firstDelayMillis }
        log("the agent \(status); restarting it in \(delayMillis) ms")
        scheduleRestart()
    }

    private func scheduleRestart() {
        guard !stopping else { return }
        let delay = delayMillis
        delayMillis = min(delayMillis * 2, Self.maxDelayMillis)
        guard let timer = restartTimer ?? (try? Timer(loop: loop)) else {
            log("cannot arm the restart timer; stopping")
            stopping = true
            stopServer(1)
            return
        }
        restartTimer = timer
        timer.start(after: delay) { [weak self] in
            guard let self, !self.stopping else { return }
            self.spawn()
        }
    }

    private func log(_ message: String) { printError("orchion up: " + message) }

    private static func monotonicMillis() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(max(now.tv_sec, 0)) * 1000 + UInt64(max(now.tv_nsec, 0)) / 1_000_000
    }
}

/// A child's output written on to `descriptor` a line at a time, each line
/// after `prefix`. A line longer than `maxLine` bytes is written in pieces.
///
/// Threading: loop thread only (fed from a pipe's read callback).
final class PrefixedLines {
    static let maxLine = 64 << 10

    private let prefix: [UInt8]
    private let descriptor: Int32
    private var partial: [UInt8] = []

    init(prefix: String, descriptor: Int32) {
        self.prefix = Array(prefix.utf8)
        self.descriptor = descriptor
    }

    /// Writes the complete lines in `partial` + `bytes`; keeps the rest.
    func append(_ bytes: UnsafeRawBufferPointer) {
        var out: [UInt8] = []
        for byte in bytes {
            partial.append(byte)
            if byte == UInt8(ascii: "\n") || partial.count >= Self.maxLine {
                out += prefix
                out += partial
                if byte != UInt8(ascii: "\n") { out.append(UInt8(ascii: "\n")) }
                partial.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { writeAll(descriptor, out) }
    }

    /// Writes what is left of a last line without its newline.
    func flush() {
        guard !partial.isEmpty else { return }
        writeAll(descriptor, prefix + partial + [UInt8(ascii: "\n")])
        partial.removeAll()
    }
}
