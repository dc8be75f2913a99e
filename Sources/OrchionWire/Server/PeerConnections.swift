/// How many connections each remote address holds, so one peer cannot take
/// every slot of `WireLimits.maxConnections` (half-open TLS handshakes, idle
/// sockets) and lock everyone else out. Loopback peers are not counted:
/// they are this machine's own processes (the local agent, tools, tests),
/// which can exhaust the process by other means anyway.
///
/// Threading: loop thread only (a value the server owns).
struct PeerConnections {
    /// At most this many connections per non-loopback address; 0: no bound.
    let limit: Int
    private var counts: [String: Int] = [:]

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection from `host` and says true, or says false when
    /// `host` is at its limit (nothing counted).
    mutating func admit(_ host: String?) -> Bool {
        guard limit > 0, let host, !WireTLS.isLoopback(host) else { return true }
        let count = counts[host, default: 0]
        guard count < limit else { return false }
        counts[host] = count + 1
        return true
    }

    /// Forgets one connection of `host` admitted before.
    mutating func release(_ host: String?) {
        guard limit > 0, let host, let count = counts[host] else { return }
        counts[host] = count > 1 ? count - 1 : nil
    }

    /// Addresses holding at least one counted connection.
    var peers: Int { counts.count }
}
