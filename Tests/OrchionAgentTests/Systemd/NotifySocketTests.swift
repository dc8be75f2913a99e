import Foundation
import OrchionAgent
import TestSupport
import Testing

/// A datagram socket standing in for systemd's notification socket: bound
/// to a path in a temp dir or to an abstract name, read with a bounded wait.
private final class ManagerSocket {
    let fd: Int32
    /// What `NOTIFY_SOCKET` would say for it.
    let address: String
    private let directory: URL?

    /// Binds a socket in a fresh temp dir.
    convenience init() throws {
        let directory = try Paths.temporaryDirectory("orchion-notify")
        try self.init(address: directory.appendingPathComponent("notify").path, directory: directory)
    }

    /// Binds a socket in the abstract namespace (`@` first).
    convenience init(abstract name: String) throws {
        try self.init(address: "@" + name, directory: nil)
    }

    private init(address: String, directory: URL?) throws {
        self.address = address
        self.directory = directory
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketFailure(what: "socket", code: errno) }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw SocketFailure(what: "bind \(address)", code: code)
        }
    }

    /// The next datagram, waiting at most `seconds`; nil when none came.
    func receive(within seconds: Double = 10) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    /// Whether a datagram is waiting now.
    var hasPending: Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) == 1
    }

    func shutdown() {
        close(fd)
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    struct SocketFailure: Error, CustomStringConvertible {
        let what: String
        let code: Int32
        var description: String { "\(what): \(String(cString: strerror(code)))" }
    }
}

@Suite struct NotifySocketTests {
    @Test func aSocketInATempDirReceivesEachStateAsOneExactDatagram() throws {
        let manager = try ManagerSocket()
        defer { manager.shutdown() }
        let notifier = try #require(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": manager.address]))
        notifier.send("READY=1")
        notifier.send("STATUS=registered as node-1")
        notifier.send("WATCHDOG=1")
        #expect(manager.receive() == "READY=1")
        #expect(manager.receive() == "STATUS=registered as node-1")
        #expect(manager.receive() == "WATCHDOG=1")
        #expect(!manager.hasPending)
        #expect(notifier.failures == 0)
        #expect(notifier.path == manager.address)
    }

    @Test func anAbstractNamespaceSocketReceivesTheStates() throws {
        let manager = try ManagerSocket(
            abstract: "orchion-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { manager.shutdown() }
        let notifier = try #require(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": manager.address]))
        notifier.send("READY=1\nSTATUS=connected")
        notifier.send("WATCHDOG=1")
        #expect(manager.receive() == "READY=1\nSTATUS=connected")
        #expect(manager.receive() == "WATCHDOG=1")
        #expect(notifier.failures == 0)
    }

    @Test func sendingWithNoManagerListeningIsCountedAndDoesNotThrowOrBlock() throws {
        let directory = try Paths.temporaryDirectory("orchion-notify-gone")
        defer { try? FileManager.default.removeItem(at: directory) }
        let notifier = try #require(
            NotifySocket.fromEnvironment(["NOTIFY_SOCKET": directory.appendingPathComponent("absent").path]))
        notifier.send("READY=1")
        notifier.send("WATCHDOG=1")
        #expect(notifier.failures == 2)
    }

    @Test func unsetEmptyOrRelativeNotifySocketGivesNoNotifier() {
        #expect(NotifySocket.fromEnvironment([:]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": ""]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": "run/notify"]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": "@"]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": "/" + String(repeating: "a", count: 200)]) == nil)
    }

    @Test func aTooLongPathIsRefusedWithWhatWasExpected() {
        let long = "/" + String(repeating: "a", count: 200)
        #expect(throws: NotifySocket.InvalidAddress.self) { try NotifySocket(path: long) }
        do {
            _ = try NotifySocket(path: long)
        } catch {
            #expect(
                error.description
                    == "NOTIFY_SOCKET: expected an absolute path or an @abstract name of at most 107 bytes, found '\(long)'"
            )
        }
    }

    @Test func theWatchdogIntervalIsHalfOfWatchdogUsecForThisProcessOnly() {
        let socket = ["NOTIFY_SOCKET": "@orchion-test-unused"]
        func interval(_ extra: [String: String]) -> Duration? {
            NotifySocket.fromEnvironment(socket.merging(extra) { $1 })?.watchdogInterval
        }
        #expect(interval(["WATCHDOG_USEC": "30000000"]) == .seconds(15))
        #expect(interval(["WATCHDOG_USEC": "3"]) == .microseconds(1))
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"]) == .seconds(15))
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid() + 1)"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "0"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "-5"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "30s"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "99999999999999999999999"]) == nil)
        #expect(interval([:]) == nil)
    }

    /// A real process whose environment names the socket: `orchion-bench
    /// notify` builds its notifier with `fromEnvironment()` (its own
    /// environment, read with getenv) and sends its arguments.
    @Test func aChildProcessFindsTheSocketAndWatchdogInItsEnvironment() throws {
        let manager = try ManagerSocket()
        defer { manager.shutdown() }
        let bench = Paths.build.appendingPathComponent("orchion-bench").path
        let result = try runCommand(
            [bench, "notify", "READY=1", "STATUS=child says hi"],
            environment: ["NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "4000000"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "watchdog 2000000 us\nfailures 0\n")
        #expect(manager.receive() == "READY=1")
        #expect(manager.receive() == "STATUS=child says hi")
        #expect(!manager.hasPending)

        let other = try runCommand(
            [bench, "notify", "WATCHDOG=1"],
            environment: ["NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"],
            timeout: 60)
        #expect(other.stdout == "watchdog none\nfailures 0\n")
        #expect(manager.receive() == "WATCHDOG=1")

        let unset = try runCommand([bench, "notify", "READY=1"], environment: [:], timeout: 60)
        #expect(unset.status == 3)
        #expect(unset.stderr == "orchion-bench notify: NOTIFY_SOCKET names no socket\n")
        #expect(!manager.hasPending)
    }
}
