import Glibc

/// Runs part of a command in a child copy of `orchion`, so plugin code that
/// calls `exit()`, crashes or hangs (in a constructor, the entry, init or a
/// call) costs the child, never the command.
///
/// The child gets the parent's standard error as both its stdout and
/// stderr (plugin output never reaches the command's stdout) and answers
/// in records on file descriptor 3: each record one line of tab-separated,
/// hex-encoded fields. Threading: call from one thread; it blocks until the
/// child ends or the deadline passes.
enum ChildProbe {
    /// The descriptor a child writes its records to.
    static let resultDescriptor: Int32 = 3

    /// How a child ended and what it answered.
    struct Outcome {
        /// The records it wrote, in order.
        var records: [[String]] = []
        /// Its exit status, when it exited.
        var exitStatus: Int32?
        /// The signal that ended it, when one did.
        var signal: Int32?
        /// Whether it was killed for passing the deadline.
        var timedOut = false

        /// How it ended, for a message: "called exit(3)", "crashed with signal 11 (SIGSEGV)".
        var ending: String {
            if timedOut { return "did not finish in time (killed)" }
            if let signal { return "crashed with signal \(signal) (\(signalName(signal)))" }
            return "called exit(\(exitStatus ?? -1))"
        }
    }

    /// Runs `orchion` with `arguments` and collects its records for at most
    /// `timeoutMillis`.
    static func run(_ arguments: [String], timeoutMillis: Int) -> Result<Outcome, ProbeError> {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return .failure(ProbeError("pipe: \(lastErrorText())")) }
        let (reader, writer) = (fds[0], fds[1])
        // Neither end may leak into another child (one thread spawns).
        _ = fcntl(reader, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writer, F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writer, resultDescriptor)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        let executable = "/proc/self/exe"
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
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environment)
        close(writer)
        guard spawned == 0 else {
            close(reader)
            return .failure(ProbeError("cannot start a probe process: \(lastErrorText(spawned))"))
        }
        var outcome = Outcome()
        let bytes = readAll(reader, until: monotonicMillis() + timeoutMillis)
        close(reader)
        if bytes == nil {
            outcome.timedOut = true
            kill(pid, SIGKILL)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if !outcome.timedOut {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out.
            if status & 0x7F == 0 { outcome.exitStatus = (status >> 8) & 0xFF } else { outcome.signal = status & 0x7F }
        }
        outcome.records = decode(bytes ?? [])
        return .success(outcome)
    }

    /// Reads `descriptor` to EOF, or returns nil when `deadline` passes first.
    private static func readAll(_ descriptor: Int32, until deadline: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let left = deadline - monotonicMillis()
            guard left > 0 else { return nil }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: left))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return ready == 0 ? nil : result }
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return result }
            result += buffer.prefix(count)
            guard result.count < 16 << 20 else { return result }  // a child never says this much
        }
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
    static func answer(_ fields: [String]) {
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

/// Why a probe could not even be started.
struct ProbeError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}

/// Milliseconds on the monotonic clock.
func monotonicMillis() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// `strerror` of `code` (default `errno`).
func lastErrorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// "SIGSEGV" for 11, ...
func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
        SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP", SIGPIPE: "SIGPIPE", SIGSYS: "SIGSYS",
    ]
    return names[signal] ?? "signal \(signal)"
}

/// Writes all of `bytes` to `descriptor`, retrying short writes.
func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress.map { $0 + written }, $0.count - written) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return }
        written += count
    }
}
