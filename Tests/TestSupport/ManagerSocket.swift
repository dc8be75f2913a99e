import Foundation

/// A datagram socket standing in for systemd's notification socket: bound
/// to a path in a temp dir or to an abstract name, read with a bounded wait.
public final class ManagerSocket {
    public let fd: Int32
    /// What `NOTIFY_SOCKET` would say for it.
    public let address: String
    private let directory: URL?

    /// Binds a socket in a fresh temp dir.
    public convenience init() throws {
        let directory = try Paths.temporaryDirectory("orchion-notify")
        try self.init(address: directory.appendingPathComponent("notify").path, directory: directory)
    }

    /// Binds a socket in the abstract namespace (`@` first).
    public convenience init(abstract name: String) throws {
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
    public func receive(within seconds: Double = 10) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    /// Whether a datagram is waiting now.
    public var hasPending: Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) == 1
    }

    public func shutdown() {
        close(fd)
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    public struct SocketFailure: Error, CustomStringConvertible {
        let what: String
        let code: Int32
        public var description: String { "\(what): \(String(cString: strerror(code)))" }
    }
}
