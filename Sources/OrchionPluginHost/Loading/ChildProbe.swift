import Dispatch
import Glibc
import Synchronization

/// Runs part of a command in a child copy of `orchion`, so plugin code that
/// calls `exit()`, crashes or hangs (in a constructor, the entry, init or a
/// call) costs the child, never the caller.
///
/// The child runs in a process group of its own, with /dev/null as stdin and
/// a pipe as both stdout and stderr that the parent drains and relays to its
/// own stderr (bounded): plugin output never reaches the command's stdout,
/// and a process the plugin leaves behind never holds the command's own
/// descriptors. It answers in records on file descriptor 3: each record one
/// line of tab-separated, hex-encoded fields. The parent stops waiting when
/// the child exits (not when the pipes close: a daemon the plugin forked may
/// hold them), then kills the child's whole process group, and, when
/// `becomeSubreaper()` was called, every orphan re-parented to it.
/// Threading: safe on several threads at once; `run` blocks until the child
/// ends or the deadline passes.
package enum ChildProbe {
    /// The descriptor a child writes its records to.
    package static let resultDescriptor: Int32 = 3

    /// How much of a child's stdout and stderr is relayed, per child.
    package static let relayLimit = 1 << 20

    /// How a child ended and what it answered.
    package struct Outcome: Sendable {
        /// The records it wrote, in order (also those written before a timeout).
        package var records: [[String]] = []
        /// Its exit status, when it exited.
        package var exitStatus: Int32?
        /// The signal that ended it, when one did.
        package var signal: Int32?
        /// Whether it was killed for passing the deadline.
        package var timedOut = false

        /// The last `phase` record, when the child wrote one.
        package var phase: String? {
            records.last(where: { $0.first == "phase" && $0.count == 2 }).map { $0[1] }
        }

        /// How it ended, for a message: "called exit(3)", "crashed with signal 11 (SIGSEGV)".
        package var ending: String {
            if timedOut { return "did not finish in time (killed)" }
            if let signal { return "crashed with signal \(signal) (\(signalName(signal)))" }
            guard let exitStatus else { return "ended without an exit status" }
            if exitStatus == 0 {
                // The host only exits 0 after it answered: either the plugin
                // called exit(0), or its answer went nowhere.
                return "exited with status 0 without answering (it called exit(0), or closed or replaced"
                    + " descriptor \(resultDescriptor))"
            }
            return "called exit(\(exitStatus))"
        }
    }

    /// Makes this process the reaper of its orphaned descendants
    /// (`PR_SET_CHILD_SUBREAPER`), so a process a plugin forked and detached
    /// (`setsid`) in a probe child is re-parented here and killed once that
    /// probe ends. For a process whose only children are probes (the command
    /// line): every orphan re-parented to it is then killed.
    package static func becomeSubreaper() {
        guard let prctl = Native.prctl else { return }
        // PR_SET_CHILD_SUBREAPER = 36.
        if prctl(36, 1, 0, 0, 0) == 0 { live.withLock { $0.reapOrphans = true } }
    }

    /// The probe children running now, guarded: a sweep for orphans must never
    /// take one of them (or a child spawned while it runs).
    private static let live = Mutex(LiveChildren())

    private struct LiveChildren {
        var pids: Set<pid_t> = []
        var reapOrphans = false
    }

    /// Runs `executable` (this very program by default) with `arguments` and
    /// collects its records for at most `timeoutMillis`. Safe on any thread.
    package static func run(
        _ arguments: [String], executable: String = "/proc/self/exe", timeoutMillis: Int
    ) -> Result<Outcome, ProbeError> {
        guard let (resultReader, resultWriter) = cloexecPipe() else {
            return .failure(ProbeError("pipe: \(lastErrorText())"))
        }
        guard let (outputReader, outputWriter) = cloexecPipe() else {
            let reason = lastErrorText()
            close(resultReader)
            close(resultWriter)
            return .failure(ProbeError("pipe: \(reason)"))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, resultWriter, resultDescriptor)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputWriter, 1)
        posix_spawn_file_actions_adddup2(&actions, outputWriter, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (pgid = its pid), every signal unblocked and
        // at its default: the spawning thread's mask must not make the child
        // or what it forks deaf to signals.
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The plugin's crash is reported in one line; Swift's backtracer would
        // print pages of it and take its time.
        var environment: [UnsafeMutablePointer<CChar>?] = [strdup("SWIFT_BACKTRACE=enable=no")]
        var entry = environ
        while let pointer = entry.pointee {
            if strncmp(pointer, "SWIFT_BACKTRACE=", 16) != 0 { environment.append(strdup(pointer)) }
            entry += 1
        }
        environment.append(nil)
        defer { for pointer in environment { free(pointer) } }
        var pid: pid_t = 0
        let spawned = live.withLock { live -> Int32 in
            let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
            if spawned == 0 { live.pids.insert(pid) }
            return spawned
        }
        close(resultWriter)
        close(outputWriter)
        defer {
            close(resultReader)
            close(outputReader)
        }
        guard spawned == 0 else {
            return .failure(ProbeError("cannot start a probe process: \(lastErrorText(spawned))"))
        }
        let (deadline, overflow) = monotonicMillis().addingReportingOverflow(max(0, timeoutMillis))
        var watch = Watch(pid: pid, result: resultReader, output: outputReader)
        defer { if watch.pidDescriptor >= 0 { close(watch.pidDescriptor) } }
        var outcome = Outcome()
        var status: Int32 = 0
        if watch.waitForExit(until: overflow ? Int.max : deadline, status: &status) {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out.
            if status & 0x7F == 0 { outcome.exitStatus = (status >> 8) & 0xFF } else { outcome.signal = status & 0x7F }
        } else {
            outcome.timedOut = true
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        // What it wrote before it ended, without waiting for an EOF that a
        // leftover process holding the pipes may never give.
        watch.drainBuffered()
        // Whatever is left in its group, and orphans re-parented here.
        kill(-pid, SIGKILL)
        live.withLock { live in
            live.pids.remove(pid)
            if live.reapOrphans { reapOrphans(sparing: live.pids) }
        }
        outcome.records = decode(watch.results)
        return .success(outcome)
    }

    /// The pipes and the process of one child, read until it exits.
    private struct Watch {
        let pid: pid_t
        let result: Int32
        let output: Int32
        /// A pidfd for `pid`, readable once it exits; -1 when unavailable
        /// (then the wait polls `waitpid` every 20 ms).
        let pidDescriptor: Int32
        var results: [UInt8] = []
        var relayed = 0
        var resultOpen = true
        var outputOpen = true

        init(pid: pid_t, result: Int32, output: Int32) {
            self.pid = pid
            self.result = result
            self.output = output
            pidDescriptor = Native.pidfdOpen.map { $0(pid, 0) } ?? -1
        }

        /// Reads both pipes until the child exits (true, with its wait status)
        /// or `deadline` passes (false).
        mutating func waitForExit(until deadline: Int, status: inout Int32) -> Bool {
            while true {
                if pidDescriptor < 0 || !(resultOpen || outputOpen) {
                    let reaped = waitpid(pid, &status, WNOHANG)
                    if reaped == pid { return true }
                }
                let left = deadline - monotonicMillis()
                guard left > 0 else { return false }
                var polls: [pollfd] = [
                    pollfd(fd: resultOpen ? result : -1, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: outputOpen ? output : -1, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: pidDescriptor, events: Int16(POLLIN), revents: 0),
                ]
                let tick = pidDescriptor < 0 ? min(left, 20) : left
                let ready = poll(&polls, nfds_t(polls.count), Int32(clamping: tick))
                if ready < 0 && errno == EINTR { continue }
                guard ready >= 0 else { return false }
                if polls[0].revents != 0 { resultOpen = readResults() }
                if polls[1].revents != 0 { outputOpen = relayOutput() }
                if polls[2].revents != 0 {
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    return true
                }
            }
        }

        /// Reads what the pipes hold now, without waiting for more.
        mutating func drainBuffered() {
            for _ in 0..<1024 {
                var polls: [pollfd] = [
                    pollfd(fd: resultOpen ? result : -1, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: outputOpen ? output : -1, events: Int16(POLLIN), revents: 0),
                ]
                guard poll(&polls, nfds_t(polls.count), 0) > 0 else { return }
                if polls[0].revents != 0 { resultOpen = readResults() }
                if polls[1].revents != 0 { outputOpen = relayOutput() }
            }
        }

        /// One read of the answer pipe; false at EOF or error.
        private mutating func readResults() -> Bool {
            guard let bytes = readOnce(result) else { return false }
            // A child never says this much: keep reading, keep nothing more.
            if results.count < 16 << 20 { results += bytes }
            return true
        }

        /// One read of the output pipe, relayed to stderr up to the limit.
        private mutating func relayOutput() -> Bool {
            guard let bytes = readOnce(output) else { return false }
            if relayed < relayLimit {
                let part = Array(bytes.prefix(relayLimit - relayed))
                writeAll(2, part)
                relayed += part.count
                if relayed >= relayLimit {
                    writeAll(2, Array("\n[orchion: further plugin output dropped]\n".utf8))
                }
            }
            return true
        }

        private func readOnce(_ descriptor: Int32) -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: 1 << 14)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return nil }
                return Array(buffer.prefix(count))
            }
        }
    }

    /// Kills and reaps every child of this process that is not in `sparing`:
    /// with a subreaper, those are orphans re-parented from a probe.
    private static func reapOrphans(sparing: Set<pid_t>) {
        let me = getpid()
        for _ in 0..<8 {
            let orphans = childrenOf(me).filter { !sparing.contains($0) }
            guard !orphans.isEmpty else { return }
            for orphan in orphans {
                kill(orphan, SIGKILL)
                var status: Int32 = 0
                while waitpid(orphan, &status, 0) < 0 && errno == EINTR {}
            }
        }
    }

    /// The pids whose parent is `parent`, from /proc/PID/stat.
    private static func childrenOf(_ parent: pid_t) -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var result: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = pid_t(name), pid != parent else { continue }
            let descriptor = open("/proc/\(name)/stat", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 1024)
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
            guard count > 0 else { continue }
            // "pid (comm) state ppid ...": comm may hold anything, so split after its last ")".
            let text = buffer.prefix(count)
            guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { continue }
            let fields = text[(close + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count > 1, let ppid = pid_t(String(decoding: fields[1], as: UTF8.self)), ppid == parent
            else { continue }
            result.append(pid)
        }
        return result
    }

    /// A pipe whose ends are close-on-exec from the start (another thread may
    /// spawn at any moment).
    private static func cloexecPipe() -> (Int32, Int32)? {
        var fds: [Int32] = [0, 0]
        guard let pipe2 = Native.pipe2 else {
            // Without pipe2 (never on a supported glibc): set the flag at once.
            guard pipe(&fds) == 0 else { return nil }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            return (fds[0], fds[1])
        }
        guard pipe2(&fds, O_CLOEXEC) == 0 else { return nil }
        return (fds[0], fds[1])
    }

    private static func decode(_ bytes: [UInt8]) -> [[String]] {
        bytes.split(separator: UInt8(ascii: "\n")).map { line in
            line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false).map { field in
                String(decoding: hexDecoded(Array(field)), as: UTF8.self)
            }
        }
    }

    // MARK: The child's side

    /// Writes one record to the parent (used by the child).
    package static func answer(_ fields: [String]) {
        let line = fields.map { hexEncoded(Array($0.utf8)) }.joined(separator: "\t") + "\n"
        writeAll(resultDescriptor, Array(line.utf8))
    }

    private static func hexEncoded(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexDecoded(_ hex: [UInt8]) -> [UInt8] {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var index = hex.startIndex
        while index + 1 < hex.endIndex {
            guard let high = value(hex[index]), let low = value(hex[index + 1]) else { return out }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// Linux calls the Swift Glibc module does not declare (variadic, or too
/// new), looked up once by name.
enum Native {
    typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    static let prctl: Prctl? = lookup("prctl")
    static let pidfdOpen: PidfdOpen? = lookup("pidfd_open")
    static let pipe2: Pipe2? = lookup("pipe2")

    private static func lookup<T>(_ name: String) -> T? {
        // RTLD_DEFAULT is the null handle in glibc.
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: T.self)
    }
}

/// Why a probe could not even be started.
package struct ProbeError: Error, CustomStringConvertible {
    package let description: String

    init(_ description: String) { self.description = description }
}

/// Milliseconds on the monotonic clock.
package func monotonicMillis() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// `strerror` of `code` (default `errno`).
package func lastErrorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// "SIGSEGV" for 11, ...
package func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
        SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP", SIGPIPE: "SIGPIPE", SIGSYS: "SIGSYS",
    ]
    return names[signal] ?? "signal \(signal)"
}

/// Writes all of `bytes` to `descriptor`, retrying short writes.
package func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress.map { $0 + written }, $0.count - written) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return }
        written += count
    }
}

/// Opens plugin files in a child `orchion plugin probe FILE` and reads back
/// their descriptors: a file whose constructors or entry exit, crash or
/// hang is refused and costs only the child. For discovery before an
/// in-process `dlopen` (the command line, and the server's hot-load when
/// `PluginWatcher.probe` is set). It cannot vouch for what the plugin does
/// later, in `init` or a call.
public struct PluginProbe: Sendable {
    /// The `orchion` binary to run; this very program by default.
    public let executable: String
    /// How long one file may take to load, in milliseconds.
    public let timeoutMillis: Int

    public init(executable: String = "/proc/self/exe", timeoutMillis: Int = 10_000) {
        self.executable = executable
        self.timeoutMillis = max(1, timeoutMillis)
    }

    /// What the child found in `file`. Blocking: run it off the loop thread.
    ///
    /// The checks that need no plugin code (`precheck`) run here first, so a
    /// file they refuse costs no process start.
    public func probe(_ file: String) -> Result<PluginInfo, PluginError> {
        do { try Self.precheck(file) } catch { return .failure(error) }
        let outcome: ChildProbe.Outcome
        switch ChildProbe.run(["plugin", "probe", file], executable: executable, timeoutMillis: timeoutMillis) {
        case .success(let result): outcome = result
        case .failure(let error): return .failure(.probeFailed(file: file, reason: error.description))
        }
        for record in outcome.records {
            if record.first == "loaded", record.count == 7, let kind = PluginKind(rawValue: record[2]),
                let major = UInt16(record[5]), let minor = UInt16(record[6])
            {
                return .success(
                    PluginInfo(
                        name: record[1], kind: kind, version: record[3], description: record[4], abiMajor: major,
                        abiMinor: minor, file: file))
            }
            if record.first == "refused", record.count == 2 {
                let prefix = file + ": "
                let reason = record[1].hasPrefix(prefix) ? String(record[1].dropFirst(prefix.count)) : record[1]
                return .failure(.probeFailed(file: file, reason: reason))
            }
        }
        let waited = outcome.timedOut ? " (no answer within \(timeoutMillis) ms)" : ""
        let phase = outcome.phase ?? "starting"
        let when = phase == "loading" ? "while loading (in a constructor or the entry function)" : "while \(phase)"
        return .failure(.probeFailed(file: file, reason: "plugin \(outcome.ending) \(when)\(waited)"))
    }

    /// What `probe` tells about each of `files`, in their order: up to
    /// `concurrency` children at a time (at least 2), so N files that hang
    /// cost about ceil(N / concurrency) timeouts. Blocking.
    public func probeAll(_ files: [String], concurrency: Int = PluginProbe.defaultConcurrency)
        -> [Result<PluginInfo, PluginError>]
    {
        let width = min(max(2, concurrency), max(1, files.count))
        let state = Mutex(
            (next: 0, results: [Result<PluginInfo, PluginError>?](repeating: nil, count: files.count)))
        let group = DispatchGroup()
        for _ in 0..<width {
            DispatchQueue.global().async(group: group) {
                while true {
                    let index = state.withLock { state -> Int? in
                        guard state.next < files.count else { return nil }
                        defer { state.next += 1 }
                        return state.next
                    }
                    guard let index else { return }
                    let result = probe(files[index])
                    state.withLock { $0.results[index] = result }
                }
            }
        }
        group.wait()
        return state.withLock { state in
            state.results.enumerated().map { index, result in
                result ?? .failure(.probeFailed(file: files[index], reason: "not probed"))
            }
        }
    }

    /// The number of CPUs, at least 2.
    public static var defaultConcurrency: Int { max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The checks on `file` that run no plugin code: type, permissions, size
    /// (`PluginFile.read`), the ELF headers, dynamic table and library paths
    /// (`PluginLibrary.checkedFile`). A file that is not ELF is
    /// refused without quoting its bytes when it was reached through a
    /// symbolic link (the link may point at a file the user may not read).
    public static func precheck(_ file: String) throws(PluginError) {
        _ = try PluginLibrary.checkedFile(file)
    }

    /// `error` without file bytes when `file` is a symbolic link.
    static func redacted(_ error: PluginError, file: String) -> PluginError {
        guard case .notELF(_, let found) = error, found.hasPrefix("bytes ") else { return error }
        var info = stat()
        guard lstat(file, &info) != 0 || info.st_mode & S_IFMT == S_IFLNK else { return error }
        return .notELF(file: file, found: "a file that is not ELF (reached through a symbolic link)")
    }

    /// The child's half: opens `file` in this process and answers on
    /// `ChildProbe.resultDescriptor`.
    public static func answer(for file: String) {
        _ = fcntl(ChildProbe.resultDescriptor, F_SETFD, FD_CLOEXEC)
        ChildProbe.answer(["phase", "loading"])
        do {
            let info = try PluginLibrary.open(file).info
            ChildProbe.answer([
                "loaded", info.name, info.kind.rawValue, info.version, info.description, String(info.abiMajor),
                String(info.abiMinor),
            ])
        } catch {
            ChildProbe.answer(["refused", redacted(error, file: file).description])
        }
    }
}
