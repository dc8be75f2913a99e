import Glibc
import Synchronization

/// The service manager's notification socket (`sd_notify(3)`'s protocol,
/// without libsystemd): one datagram per state change sent to the
/// `AF_UNIX` socket that systemd names in `NOTIFY_SOCKET` for a
/// `Type=notify` service — `READY=1` once the agent is registered,
/// `STATUS=…` lines, `WATCHDOG=1` every `watchdogInterval`, `STOPPING=1`.
///
/// `fromEnvironment` reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
/// `WATCHDOG_PID` but leaves them set: unsetting them (so that processes
/// the agent starts do not inherit them) is the caller's choice — with
/// `NotifyAccess=main` systemd ignores datagrams from anyone but the main
/// process anyway, and a job's whole environment is the one its executor
/// built (`exec`: a clean one), not the agent's.
///
/// Threading: any thread. `send` never blocks (the socket is non-blocking;
/// a datagram the manager cannot take at once is dropped, as `sd_notify`
/// would); failures are ignored by design — the service manager being gone
/// must never stop the agent — but counted in `failures`.
public final class NotifySocket: Sendable {
    /// The socket path as `NOTIFY_SOCKET` gave it (`@` first: the abstract namespace).
    public let path: String
    /// Half of `WATCHDOG_USEC`, when the watchdog is enabled for this process
    /// (`WATCHDOG_USEC` set and positive, `WATCHDOG_PID` unset or this
    /// process's id); nil otherwise. Send `WATCHDOG=1` at least this often.
    public let watchdogInterval: Duration?

    private let descriptor: Int32
    private let address: UnixAddress
    private let failed = Atomic<Int>(0)

    /// Why `NOTIFY_SOCKET` names no usable socket.
    public struct InvalidAddress: Error, CustomStringConvertible {
        public let description: String
    }

    /// The notification socket `environment` names (nil: this process's
    /// environment), or nil when `NOTIFY_SOCKET` is unset, empty, not an
    /// absolute path or `@`-name, or longer than a socket address holds.
    public static func fromEnvironment(_ environment: [String: String]? = nil) -> NotifySocket? {
        func value(_ name: String) -> String? {
            if let environment { return environment[name] }
            return getenv(name).map { String(cString: $0) }
        }
        guard let path = value("NOTIFY_SOCKET"), !path.isEmpty else { return nil }
        let interval = watchdogInterval(usec: value("WATCHDOG_USEC"), pid: value("WATCHDOG_PID"), ownPID: getpid())
        return try? NotifySocket(path: path, watchdogInterval: interval)
    }

    /// A notifier sending to `path` (absolute, or `@name` for the abstract
    /// namespace). Opens a non-blocking, close-on-exec datagram socket.
    public init(path: String, watchdogInterval: Duration? = nil) throws(InvalidAddress) {
        guard let address = UnixAddress(path) else {
            throw InvalidAddress(
                description: "NOTIFY_SOCKET: expected an absolute path or an @abstract name of at most "
                    + "\(UnixAddress.capacity - 1) bytes, found '\(path)'")
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            throw InvalidAddress(
                description: "cannot open a datagram socket for \(path): \(CgroupFiles.describe(errno))")
        }
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, (flags < 0 ? 0 : flags) | O_NONBLOCK)
        self.path = path
        self.address = address
        self.descriptor = descriptor
        self.watchdogInterval = watchdogInterval
    }

    deinit {
        close(descriptor)
    }

    /// Sends `state` (e.g. `READY=1`, `STATUS=registered as n1`,
    /// `WATCHDOG=1`; several assignments may be joined with newlines) as one
    /// datagram. Never blocks; a failure only counts.
    public func send(_ state: String) {
        let bytes = Array(state.utf8)
        let sent = bytes.withUnsafeBytes { payload in
            address.withSockaddr { sockaddr, length in
                sendto(descriptor, payload.baseAddress, payload.count, Int32(MSG_NOSIGNAL), sockaddr, length)
            }
        }
        if sent != bytes.count { failed.add(1, ordering: .relaxed) }
    }

    /// How many `send`s failed (the manager gone, its queue full, …).
    public var failures: Int { failed.load(ordering: .relaxed) }

    /// Half of `usec` microseconds when the watchdog applies to `ownPID`:
    /// `usec` a positive decimal, `pid` absent or equal to `ownPID`.
    static func watchdogInterval(usec: String?, pid: String?, ownPID: pid_t) -> Duration? {
        guard let usec, let microseconds = UInt64(usec), microseconds > 0 else { return nil }
        if let pid {
            guard let target = Int32(pid), target == ownPID else { return nil }
        }
        return .microseconds(Int64(clamping: microseconds / 2))
    }
}

/// A `sockaddr_un` for a path or an abstract name (`@` becomes the leading NUL).
///
/// Threading: a value; safe anywhere.
struct UnixAddress: Sendable {
    /// `sun_path`'s size.
    static let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// The bytes of `sun_path` that count (abstract: no trailing NUL).
    let name: [UInt8]

    init?(_ path: String) {
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") {
            bytes[0] = 0
            guard bytes.count > 1, bytes.count <= Self.capacity else { return nil }
        } else {
            guard bytes.first == UInt8(ascii: "/"), !bytes.contains(0), bytes.count < Self.capacity else { return nil }
        }
        name = bytes
    }

    /// Calls `body` with the address and its length.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            for (index, byte) in name.enumerated() where index < raw.count { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
