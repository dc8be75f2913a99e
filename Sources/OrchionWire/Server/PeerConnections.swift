/// How many connections each remote peer (`PeerKey`: an IPv4 address or an
/// IPv6 /64) holds, so one peer cannot take
/// every slot of `WireLimits.maxConnections` (half-open TLS handshakes, idle
/// sockets) and lock everyone else out. Loopback peers are not counted:
/// they are this machine's own processes (the local agent, tools, tests),
/// which can exhaust the process by other means anyway.
///
/// Threading: loop thread only (a value the server owns).
struct PeerConnections {
    /// At most this many connections per non-loopback peer; 0: no bound.
    let limit: Int
    private var counts: [String: Int] = [:]

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection from `host` and says true, or says false when
    /// `host` is at its limit (nothing counted).
    mutating func admit(_ host: String?) -> Bool {
        guard limit > 0, let host, !WireTLS.isLoopback(host) else { return true }
        let key = PeerKey.of(host)
        let count = counts[key, default: 0]
        guard count < limit else { return false }
        counts[key] = count + 1
        return true
    }

    /// Forgets one connection of `host` admitted before.
    mutating func release(_ host: String?) {
        guard limit > 0, let host else { return }
        let key = PeerKey.of(host)
        guard let count = counts[key] else { return }
        counts[key] = count > 1 ? count - 1 : nil
    }

    /// Peers holding at least one counted connection.
    var peers: Int { counts.count }
}
