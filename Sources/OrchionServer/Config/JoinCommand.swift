import Glibc
import OrchionLoop

/// The command that joins another machine to this server: the join token
/// (a secret), where to reach the server, and how to trust it — the CA hash
/// when it speaks TLS (kubeadm's discovery-token-ca-cert-hash), or
/// `--plaintext` when it was told to serve plaintext beyond loopback:
///
///     ORCHION_JOIN_TOKEN=… orchion agent run --server 192.168.1.10:7420 --ca-hash sha256:…
///
/// `orchion up` prints it; `orchion token create --join` answers it.
///
/// Threading: a value; `init` reads the interfaces (`getifaddrs`, no I/O).
public struct JoinCommand: Sendable {
    /// Where other machines may reach the server (first: the one to use).
    public let hosts: [String]
    public let port: UInt16
    public let caHash: String?

    public init(listening address: SocketAddress, caHash: String?) {
        hosts = Self.hosts(listening: address)
        port = address.port
        self.caHash = caHash
    }

    /// The command for `token`, with the first host (THIS-MACHINE when
    /// none is known).
    public func line(token: String) -> String {
        let server = hosts.first.map { SocketAddress(host: $0, port: port).description } ?? "THIS-MACHINE:\(port)"
        return "ORCHION_JOIN_TOKEN=\(token) orchion agent run --server \(server)"
            + (caHash.map { " --ca-hash \($0)" }
                ?? (hosts.first.map(ConfigUnits.isLoopback) == true ? "" : " --plaintext"))
    }

    /// The hosts other machines may reach a server listening on `address`
    /// at: that host, or for a wildcard address this machine's interface
    /// addresses that are up and not loopback or link-local (IPv4 first).
    static func hosts(listening address: SocketAddress) -> [String] {
        guard address.host == "0.0.0.0" || address.host == "::" else { return [address.host] }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var v4: [String] = []
        var v6: [String] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            cursor = entry.pointee.ifa_next
            guard let socket = entry.pointee.ifa_addr, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0,
                entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0
            else { continue }
            var name = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            switch Int32(socket.pointee.sa_family) {
            case AF_INET:
                var ip = socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                guard inet_ntop(AF_INET, &ip, &name, socklen_t(name.count)) != nil else { continue }
                let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !text.hasPrefix("169.254.") { v4.append(text) }
            case AF_INET6 where address.host == "::":
                var ip = socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                guard inet_ntop(AF_INET6, &ip, &name, socklen_t(name.count)) != nil else { continue }
                let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !text.lowercased().hasPrefix("fe80") { v6.append(text) }
            default: continue
            }
        }
        var seen = Set<String>()
        return (v4 + v6).filter { seen.insert($0).inserted }
    }
}
