import CLibUV

/// An IPv4 or IPv6 address and port.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The numeric host, e.g. "127.0.0.1" or "::1".
    public let host: String
    /// The port.
    public let port: UInt16

    /// Creates an address from a numeric host (no DNS: names are refused).
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Calls `body` with the address as a `sockaddr`.
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>) throws(LoopError) -> T) throws(LoopError) -> T {
        var storage = sockaddr_storage()
        let status = withUnsafeMutableBytes(of: &storage) { bytes in
            host.contains(":")
                ? uv_ip6_addr(host, Int32(port), bytes.baseAddress?.assumingMemoryBound(to: sockaddr_in6.self))
                : uv_ip4_addr(host, Int32(port), bytes.baseAddress?.assumingMemoryBound(to: sockaddr_in.self))
        }
        try LoopError.check(status, "parse address \(self)")
        return try withUnsafeBytes(of: &storage) { bytes throws(LoopError) in
            guard let base = bytes.baseAddress else { throw LoopError(Int32(UV_EINVAL.rawValue), "address \(self)") }
            return try body(base.assumingMemoryBound(to: sockaddr.self))
        }
    }

    /// Reads an address out of a `sockaddr_storage`.
    init?(_ storage: sockaddr_storage) {
        var storage = storage
        var name = [CChar](repeating: 0, count: 64)
        let family = Int32(storage.ss_family)
        let port: UInt16
        let status: Int32 = withUnsafeBytes(of: &storage) { bytes in
            if family == AF_INET6 {
                let address = bytes.baseAddress?.assumingMemoryBound(to: sockaddr_in6.self)
                return uv_ip6_name(address, &name, name.count)
            }
            let address = bytes.baseAddress?.assumingMemoryBound(to: sockaddr_in.self)
            return uv_ip4_name(address, &name, name.count)
        }
        guard status == 0, family == AF_INET || family == AF_INET6 else { return nil }
        port = withUnsafeBytes(of: &storage) { bytes in
            family == AF_INET6
                ? bytes.load(as: sockaddr_in6.self).sin6_port.bigEndian
                : bytes.load(as: sockaddr_in.self).sin_port.bigEndian
        }
        self.init(
            host: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: port)
    }
}
