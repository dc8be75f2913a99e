import Glibc

/// What one peer is, for the bounds kept per peer (connections, failed
/// authentications): an IPv4 address, or an IPv6 /64. One host on a SLAAC
/// network may use any address of its /64, so counting IPv6 addresses one
/// by one would let it take every slot; an IPv4-mapped address
/// (`::ffff:a.b.c.d`) is that IPv4 peer.
///
/// Threading: pure; safe anywhere.
enum PeerKey {
    /// The key for `host` (numeric, as accepted); "" for none.
    static func of(_ host: String?) -> String {
        guard let host else { return "" }
        guard host.contains(":") else { return host }
        var address = in6_addr()
        guard inet_pton(AF_INET6, host, &address) == 1 else { return host }
        let bytes = withUnsafeBytes(of: &address) { Array($0) }
        // An IPv4-mapped address (::ffff:a.b.c.d) is one IPv4 peer.
        if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes.suffix(4).map(String.init).joined(separator: ".")
        }
        let digits = Array("0123456789abcdef")
        return String(bytes.prefix(8).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }) + "::/64"
    }
}
