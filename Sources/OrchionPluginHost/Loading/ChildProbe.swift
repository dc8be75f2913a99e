import Glibc

/// Runs part of a command in a child copy of `orchion`, so plugin code that
/// calls `exit()`, crashes or hangs (in a constructor, the entry, init or a
/// call) costs the child, never the caller.
///
/// The child gets the parent's standard error as both its stdout and
/// stderr (plugin output never reaches the command's stdout) and answers
/// in records on file descriptor 3: each record one line of tab-separated,
/// hex-encoded fields. Threading: call from one thread; it blocks until the
/// child ends or the deadline passes.
package enum ChildProbe {
    /// The descriptor a child writes its records to.
    package static let resultDescriptor: Int32 = 3

    /// How a child ended and what it answered.
    package struct Outcome: Sendable {
        /// The records it wrote, in order.
        package var records: [[String]] = []
        /// Its exit status, when it exited.
        package var exitStatus: Int32?
        /// The signal that ended it, when one did.
        package var signal: Int32?
        /// Whether it was killed for passing the deadline.
        package var timedOut = false

        /// How it ended, for a message: "called exit(3)", "crashed with signal 11 (SIGSEGV)".
        package var ending: String {
            if timedOut { return "did not finish in time (killed)" }
            if let signal { return "crashed with signal \(signal) (\(signalName(signal)))" }
            return "called exit(\(exitStatus ?? -1))"
        }
    }

    /// Runs `executable` (this very program by default) with `arguments` and
    /// collects its records for at most `timeoutMillis`. Safe on any thread.
    package static func run(
        _ arguments: [String], executable: String = "/proc/self/exe", timeoutMillis: Int
    ) -> Result<Outcome, ProbeError> {
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
        let (deadline, overflow) = monotonicMillis().addingReportingOverflow(max(0, timeoutMillis))
        let bytes = readAll(reader, until: overflow ? Int.max : deadline)
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
    public func probe(_ file: String) -> Result<PluginInfo, PluginError> {
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
        return .failure(
            .probeFailed(
                file: file,
                reason: "plugin \(outcome.ending) while loading (in a constructor or the entry function)\(waited)"))
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
            ChildProbe.answer(["refused", error.description])
        }
    }
}
