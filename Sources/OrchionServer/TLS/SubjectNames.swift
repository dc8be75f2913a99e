#if canImport(Glibc)
    import Glibc
#endif

/// The names a server certificate is issued for: DNS names and IP
/// addresses, as OpenSSL's subjectAltName text (`DNS:localhost,IP:::1`).
///
/// Threading: a value; safe anywhere (`host` reads the host's name and
/// interface addresses: call it off the loop).
public struct SubjectNames: Sendable, Hashable {
    /// DNS names, in order, without duplicates.
    public private(set) var dns: [String] = []
    /// Numeric IP addresses, in order, without duplicates.
    public private(set) var addresses: [String] = []

    public init() {}

    /// Adds `name`: to `addresses` when it is a numeric IP address, else to `dns`.
    public mutating func add(_ name: String) {
        if Self.isAddress(name) {
            if !addresses.contains(name) { addresses.append(name) }
        } else if !name.isEmpty && !dns.contains(name) {
            dns.append(name)
        }
    }

    /// The subjectAltName extension's value in OpenSSL's config syntax.
    public var extensionValue: String {
        (dns.map { "DNS:" + $0 } + addresses.map { "IP:" + $0 }).joined(separator: ",")
    }

    /// The host's: its name, `localhost`, 127.0.0.1, ::1, the listen
    /// address when it is a specific one, the addresses of its interfaces
    /// (not link-local), and `extra`.
    public static func host(listenHost: String, extra: [String]) -> SubjectNames {
        var names = SubjectNames()
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count - 1) == 0 {
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if isValidName(name) { names.add(name) }
        }
        names.add("localhost")
        names.add("127.0.0.1")
        names.add("::1")
        if listenHost != "0.0.0.0" && listenHost != "::" { names.add(listenHost) }
        for address in interfaceAddresses() { names.add(address) }
        for name in extra { names.add(name) }
        return names
    }

    /// Whether `name` can be a subject alternative name here: an IP
    /// address, or a DNS name of letters, digits, `-`, `.` and `*`.
    public static func isValidName(_ name: String) -> Bool {
        if isAddress(name) { return true }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x2E || byte == 0x2A
        }
    }

    static func isAddress(_ text: String) -> Bool {
        var bytes = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, text, &bytes) == 1 || inet_pton(AF_INET6, text, &bytes) == 1
    }

    /// The numeric addresses of the host's interfaces, link-local ones left out.
    private static func interfaceAddresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var found: [String] = []
        var cursor = list
        while let entry = cursor {
            cursor = entry.pointee.ifa_next
            guard let socket = entry.pointee.ifa_addr else { continue }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            switch Int32(socket.pointee.sa_family) {
            case AF_INET:
                socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    var raw = v4.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                }
            case AF_INET6:
                let linkLocal = socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 -> Bool in
                    var raw = v6.pointee.sin6_addr
                    let first = withUnsafeBytes(of: &raw) { ($0[0], $0[1]) }
                    if first.0 == 0xFE && first.1 & 0xC0 == 0x80 { return true }
                    _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                    return false
                }
                if linkLocal { continue }
            default: continue
            }
            let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !address.isEmpty { found.append(address) }
        }
        return found
    }
}
