// The real `orchion server` as a child of the benchmark: started on
// 127.0.0.1 with a state directory of its own, measured through /proc, and
// killed by PID at the end or on any failure.
import Glibc
import OrchionLoop
import OrchionPluginHost
import Synchronization

/// The PID of the running server child (0 when none), for the signal
/// handlers and the failure path that must not leave it behind.
let serverChildPID = Atomic<Int32>(0)

/// Kills the server child, if any, and reaps it. Safe from a signal handler
/// (only `kill` and `waitpid`).
func killServerChild() {
    let pid = serverChildPID.exchange(0, ordering: .relaxed)
    guard pid > 0 else { return }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

/// A failure of the control-plane benchmark, said plainly.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One `orchion server` process.
///
/// Threading: any thread; `stop` once, from the thread that started it.
final class ServerChild: Sendable {
    static let joinToken = "bench-join-token-0123456789abcdef"
    static let clientToken = "bench-client-token-0123456789abcd"

    let pid: Int32
    let port: UInt16
    let directory: String
    let logPath: String

    /// Starts `orchion` (beside this executable) as `orchion server` on
    /// 127.0.0.1 (a free port) with a new state directory under `scratch`
    /// holding its token files (0600) and the built-in strategies, and the
    /// ORCHION_* settings in `environment`. Returns once it listens.
    init(scratch: String, label: String, environment: [String: String]) throws {
        let binaries = PluginDirectory.executableDirectory() ?? "."
        directory = try makeDirectory(under: scratch, label)
        logPath = "\(directory)/server.log"
        let plugins = "\(directory)/plugins"
        mkdir(plugins, 0o700)
        for name in ["bin-packing", "spread", "round-robin", "gpu-affinity"] {
            try copyFile("\(binaries)/liborchion-\(name).so", to: "\(plugins)/liborchion-\(name).so")
        }
        try writeSecret(Self.joinToken, to: "\(directory)/join.token")
        try writeSecret("bench \(Self.clientToken)", to: "\(directory)/client.tokens")

        let arguments = [
            "\(binaries)/orchion", "server", "--listen", "127.0.0.1:0", "--state-dir", directory, "--plugins-dir",
            plugins,
        ]
        var variables = ProcessEnvironment.current.map { "\($0.key)=\($0.value)" }.filter { !$0.hasPrefix("ORCHION_") }
        variables += environment.map { "\($0.key)=\($0.value)" }
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw BenchError("cannot create \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        var pid: pid_t = 0
        let status = withCStrings(arguments) { argv in
            withCStrings(variables) { envp in posix_spawn(&pid, arguments[0], &actions, nil, argv, envp) }
        }
        guard status == 0 else {
            throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        serverChildPID.store(pid, ordering: .relaxed)
        port = try Self.waitForPort(pid: pid, log: logPath)
    }

    /// Polls the log (every 20 ms, up to 30 s) for "listening on 127.0.0.1:PORT".
    private static func waitForPort(pid: Int32, log: String) throws -> UInt16 {
        let deadline = now() + 30
        while now() < deadline {
            let text = readText(log) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on 127.0.0.1:") }) {
                guard let field = line.split(separator: ":").last, let port = UInt16(field) else {
                    killServerChild()
                    throw BenchError("expected a port at the end of '\(line)'")
                }
                return port
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                serverChildPID.store(0, ordering: .relaxed)
                throw BenchError("orchion server exited (status \(status)) before listening:\n\(text)")
            }
            usleep(20_000)
        }
        killServerChild()
        throw BenchError("orchion server did not listen within 30 s; its log:\n\(readText(log) ?? "")")
    }

    var address: SocketAddress { SocketAddress(host: "127.0.0.1", port: port) }

    /// User plus system CPU time of the server so far, in seconds (/proc/PID/stat).
    func cpuSeconds() -> Double? {
        guard let stat = readText("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm)": state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The server's resident set (VmRSS) in KiB.
    func residentKiB() -> Int? {
        guard let status = readText("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// The last `lines` lines of the server's log.
    func logTail(_ lines: Int = 20) -> String {
        (readText(logPath) ?? "").split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, then SIGKILL after 10 s; reaps the child and removes its directory.
    func stop() {
        if serverChildPID.compareExchange(expected: pid, desired: 0, ordering: .relaxed).exchanged {
            kill(pid, SIGTERM)
            reapChild(pid, until: now() + 10, killing: pid)
        }
        removeTree(directory)
    }
}

/// Runs `body` with `strings` as a NULL-terminated C array.
func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}

/// The whole content of a (small) file, or nil if it cannot be read.
func readText(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func copyFile(_ source: String, to target: String) throws {
    let input = open(source, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else { throw BenchError("cannot read \(source): \(String(cString: strerror(errno)))") }
    defer { close(input) }
    let output = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    guard output >= 0 else { throw BenchError("cannot create \(target): \(String(cString: strerror(errno)))") }
    defer { close(output) }
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = read(input, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return }
        var offset = 0
        while offset < count {
            let written = buffer[offset..<count].withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
            guard written > 0 else { throw BenchError("cannot write \(target): \(String(cString: strerror(errno)))") }
            offset += written
        }
    }
}

/// Writes `text` and a newline to a new file that only its owner may read.
private func writeSecret(_ text: String, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    writeLine(fd, text + "\n")
}

/// Removes `path` and everything under it (the server's state directory).
func removeTree(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != ".", name != ".." else { continue }
            let child = "\(path)/\(name)"
            var info = stat()
            if lstat(child, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                removeTree(child)
            } else {
                unlink(child)
            }
        }
        closedir(directory)
    }
    rmdir(path)
}

/// A new directory `label-XXXXXX` under `parent`.
func makeDirectory(under parent: String, _ label: String) throws -> String {
    var template = Array("\(parent)/\(label)-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
        throw BenchError("cannot create a directory under \(parent): \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}

/// Raises this process's open-file limit to at least `needed` (children
/// inherit it); throws when the hard limit is lower.
func raiseOpenFileLimit(to needed: Int) throws {
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    var limit = rlimit()
    getrlimit(resource, &limit)
    guard limit.rlim_cur < rlim_t(needed) else { return }
    guard limit.rlim_max >= rlim_t(needed) else {
        throw BenchError(
            "expected an open-file hard limit of at least \(needed), found \(limit.rlim_max) (raise ulimit -Hn)")
    }
    limit.rlim_cur = limit.rlim_max
    guard setrlimit(resource, &limit) == 0 else {
        throw BenchError("setrlimit(RLIMIT_NOFILE, \(limit.rlim_max)): \(String(cString: strerror(errno)))")
    }
}

/// Waits for child `pid` to exit and reaps it, polling; past `deadline`
/// (`now()` seconds) sends SIGKILL to `target` (the child, or `-group`)
/// and waits for it.
func reapChild(_ pid: Int32, until deadline: Double, killing target: Int32) {
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if now() > deadline {
            kill(target, SIGKILL)
            waitpid(pid, &status, 0)
            return
        }
        usleep(10_000)
    }
}
