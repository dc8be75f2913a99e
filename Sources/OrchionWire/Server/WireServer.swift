import OrchionLoop

#if canImport(Glibc)
    import Glibc
#endif

/// One listening port for every protocol: each connection is HTTP/2 with
/// prior knowledge (gRPC) when it opens with the HTTP/2 preface
/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, and HTTP/1.1 otherwise.
///
/// HTTP/1.1 connections share `WireLimits.maxTotalUnsentOutputBytes`: each
/// stops reading new requests above its share of it (at most
/// `maxUnsentOutputBytes`), and the shares are recomputed as connections
/// come and go.
///
/// With `tls`, a connection whose first byte is 0x16 (a TLS handshake
/// record: a ClientHello) is TLS: the handshake runs within
/// `WireLimits.tlsHandshakeTimeoutMillis`, then ALPN picks HTTP/2 (`h2`) or
/// HTTP/1.1 (`http/1.1`); without ALPN the preface decides, as in
/// plaintext. Any other first byte is plaintext, served only from a
/// loopback peer unless `WireTLS.plaintextBeyondLoopback` allows it; a
/// refused one is answered `426 Upgrade Required` and closed.
///
/// Accepted sockets get TCP keepalive (`WireLimits.keepAliveIdleSeconds`).
/// At most `WireLimits.maxConnections` are open at once, and at most
/// `maxConnectionsPerPeer` from one non-loopback address: one more is
/// answered `503 Service Unavailable` with `Connection: close` and closed. Running out
/// of descriptors closes the waiting connections and keeps serving (see
/// `TCPListener.listen`).
///
/// Threading: loop thread only.
public final class WireServer {
    /// Starts serving an HTTP/2 connection, given its socket and the bytes read so far.
    public typealias HTTP2Starter = (any ByteStream, [UInt8]) -> Void

    private let listener: TCPListener
    private let tls: WireTLS?
    /// The address actually bound (with the real port when 0 was asked for).
    public let address: SocketAddress
    /// Connections open now (refused ones are not counted).
    public private(set) var openConnections = 0
    /// Connections refused at the connection limit so far.
    public private(set) var refusedConnections = 0
    /// Accept errors so far (e.g. EMFILE bursts, each counted once).
    public private(set) var acceptErrors = 0
    /// TLS handshakes completed so far.
    public private(set) var tlsHandshakes = 0
    /// TLS handshakes that failed or timed out so far.
    public private(set) var tlsHandshakeFailures = 0
    /// Plaintext connections refused (TLS required from their peer) so far.
    public private(set) var plaintextRefused = 0
    private var peers: PeerConnections
    /// Slows down refused tokens, on both faces (`APIServer` shares it with gRPC calls).
    public let authFailures: AuthFailureThrottle
    private var sockets: [ObjectIdentifier: TCPConnection] = [:]
    private var http1Sockets: [ObjectIdentifier: TCPConnection] = [:]
    /// The unsent-output bound each HTTP/1.1 connection has now.
    public private(set) var http1OutputShare = 0

    /// Response bytes queued in user space for all open connections, not yet
    /// taken by the kernel: what peers that do not read cost this process.
    public var unsentOutputBytes: Int { sockets.values.reduce(0) { $0 + $1.queuedBytes } }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Binds `address` (loopback by default in every caller) and serves.
    public init(
        loop: EventLoop, address: SocketAddress, limits: WireLimits = WireLimits(), tls: WireTLS? = nil,
        http1: @escaping HTTPHandler, http1Head: HTTPHeadCheck? = nil, http2: @escaping HTTP2Starter,
        authFailures: AuthFailureThrottle? = nil
    ) throws(LoopError) {
        self.tls = tls
        self.authFailures = authFailures ?? AuthFailureThrottle(loop: loop, policy: limits.authFailures)
        peers = PeerConnections(limit: limits.maxConnectionsPerPeer)
        listener = try TCPListener(loop: loop, address: address)
        self.address = listener.address ?? address
        try listener.listen { [weak self] accepted in
            guard let self else {
                if case .success(let connection) = accepted { connection.close() }
                return
            }
            switch accepted {
            case .failure: acceptErrors += 1
            case .success(let connection):
                self.accepted(connection, limits: limits, http1: http1, http1Head: http1Head, http2: http2)
            }
        }
    }

    /// How many open connections a new one from a loopback peer, or from
    /// the network, may find: the last 1/16 of the limit (at most 64) is
    /// kept for loopback.
    static func room(loopback: Bool, _ limits: WireLimits) -> Int {
        loopback ? limits.maxConnections : limits.maxConnections - min(64, limits.maxConnections / 16)
    }

    private func accepted(
        _ connection: TCPConnection, limits: WireLimits, http1: @escaping HTTPHandler, http1Head: HTTPHeadCheck?,
        http2: @escaping HTTP2Starter
    ) {
        let host = connection.peer?.host
        // The last slots are kept for this machine's own processes (the
        // local agent, the CLI), so peers filling the server from the
        // network never lock its owner out.
        let loopback = host.map(WireTLS.isLoopback) ?? false
        let room = Self.room(loopback: loopback, limits)
        let refusal: String? =
            openConnections >= room
            ? "server at its limit of \(room) connections"
                + (loopback ? "" : " from other machines (the rest are kept for its own machine's processes)")
            : !peers.admit(host) ? "at the limit of \(limits.maxConnectionsPerPeer) connections from one address" : nil
        if let refusal {
            refusedConnections += 1
            let answer = RPCError.json(code: "UNAVAILABLE", message: refusal, status: 503)
            connection.write(answer.serialized(keepAlive: false))
            connection.shutdown { _ in connection.close() }
            return
        }
        openConnections += 1
        let key = ObjectIdentifier(connection)
        sockets[key] = connection
        connection.onClosed = { [weak self] in
            guard let self else { return }
            openConnections -= 1
            peers.release(host)
            sockets[key] = nil
            if http1Sockets.removeValue(forKey: key) != nil { rebalance(limits) }
        }
        connection.setNoDelay(true)
        try? connection.setKeepAlive(idleSeconds: limits.keepAliveIdleSeconds)
        let isHTTP1 = { [weak self] () -> Int? in self?.startedHTTP1(connection, key: key, limits: limits) }
        let serve = Sniffer.Serve(
            limits: limits, http1: http1, http1Head: http1Head, http2: http2, isHTTP1: isHTTP1, failures: authFailures)
        guard let tls else { return Sniffer.start(connection, serve) }
        let plaintextAllowed =
            tls.plaintextBeyondLoopback || connection.peer.map { WireTLS.isLoopback($0.host) } ?? false
        Sniffer.start(
            connection, serve,
            tls: { [weak self] seen in
                guard let context = tls.context() else { return connection.close() }
                TLSStream.accept(
                    connection, context: context, initialBytes: seen, timeoutMillis: limits.tlsHandshakeTimeoutMillis
                ) { result in
                    switch result {
                    case .failure:
                        self?.tlsHandshakeFailures += 1
                    case .success(let stream):
                        self?.tlsHandshakes += 1
                        Sniffer.serve(stream, serve)
                    }
                }
            },
            refusePlaintext: plaintextAllowed
                ? nil
                : { [weak self] in
                    self?.plaintextRefused += 1
                    let refusal = RPCError.json(
                        code: "FAILED_PRECONDITION",
                        message: "this port needs TLS from beyond loopback: connect with https:// (or TLS for gRPC)",
                        status: 426)
                    connection.write(refusal.serialized(keepAlive: false))
                    connection.shutdown { _ in connection.close() }
                })
    }

    /// Counts a new HTTP/1.1 connection; returns its output bound.
    private func startedHTTP1(_ connection: TCPConnection, key: ObjectIdentifier, limits: WireLimits) -> Int {
        guard sockets[key] != nil else { return limits.maxUnsentOutputBytes }
        http1Sockets[key] = connection
        rebalance(limits)
        return http1OutputShare
    }

    /// Recomputes the HTTP/1.1 share; when it changed, applies it to every
    /// HTTP/1.1 connection and returns true. The share only changes when the
    /// count of connections crosses a power of two, so this is rare.
    @discardableResult
    private func rebalance(_ limits: WireLimits) -> Bool {
        let perConnection = max(limits.maxUnsentOutputBytes, 1)
        let even = max(limits.maxTotalUnsentOutputBytes / max(http1Sockets.count, 1), 1)
        let share = even >= perConnection ? perConnection : 1 << (Int.bitWidth - 1 - even.leadingZeroBitCount)
        guard share != http1OutputShare else { return false }
        http1OutputShare = share
        for connection in http1Sockets.values { Self.bound(connection, to: share) }
        return true
    }

    private static func bound(_ connection: TCPConnection, to share: Int) {
        connection.highWatermark = share
        connection.lowWatermark = max(share / 4, 1)
    }

    /// Stops accepting; open connections finish on their own.
    public func close() { listener.close() }
}

/// TLS on a `WireServer`.
///
/// Threading: a value; `context` is called on the loop thread.
public struct WireTLS {
    /// The certificate for a new TLS connection: the current one (a rotated
    /// certificate takes effect for the next connection; open ones keep
    /// theirs). Nil refuses the connection.
    public var context: () -> TLSServerContext?
    /// Whether plaintext is served to peers beyond loopback too (an
    /// explicit, logged choice of the operator); by default only loopback
    /// peers may skip TLS.
    public var plaintextBeyondLoopback: Bool

    public init(plaintextBeyondLoopback: Bool = false, context: @escaping () -> TLSServerContext?) {
        self.context = context
        self.plaintextBeyondLoopback = plaintextBeyondLoopback
    }

    /// Whether `host` (numeric) is a loopback address: 127.0.0.0/8, ::1, or
    /// 127.x mapped into IPv6.
    public static func isLoopback(_ host: String) -> Bool {
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, host, &v4) == 1 { return v4[0] == 127 }
        var v6 = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        if v6[0..<15].allSatisfy({ $0 == 0 }) && v6[15] == 1 { return true }
        return v6[0..<10].allSatisfy { $0 == 0 } && v6[10] == 0xFF && v6[11] == 0xFF && v6[12] == 127
    }
}

/// Reads just enough of a new connection to tell the protocols apart.
private enum Sniffer {
    /// What serves a connection once its protocol is known.
    struct Serve {
        let limits: WireLimits
        let http1: HTTPHandler
        let http1Head: HTTPHeadCheck?
        let http2: WireServer.HTTP2Starter
        let isHTTP1: () -> Int?
        let failures: AuthFailureThrottle?
    }

    /// Serves a TLS stream whose handshake is done: by ALPN, else by the preface.
    static func serve(_ stream: TLSStream, _ serve: Serve) {
        switch stream.applicationProtocol {
        case .http2: serve.http2(stream, [])
        case .http1: startHTTP1(stream, serve, [])
        case .none: start(stream, serve)
        }
    }

    private static func startHTTP1(_ stream: any ByteStream, _ serve: Serve, _ seen: [UInt8]) {
        let bound = serve.isHTTP1()
        do {
            _ = try HTTP1Connection(
                stream: stream, limits: serve.limits, handler: serve.http1, headCheck: serve.http1Head,
                outputBound: bound, failures: serve.failures, initialBytes: seen)
        } catch {
            stream.close()
        }
    }

    /// Reads the first bytes: 0x16 hands over to `tls` (when given), the
    /// HTTP/2 preface to `http2`, anything else to HTTP/1.1 (or to
    /// `refusePlaintext` when given).
    static func start(
        _ connection: any ByteStream, _ serve: Serve, tls: (([UInt8]) -> Void)? = nil,
        refusePlaintext: (() -> Void)? = nil
    ) {
        let limits = serve.limits
        guard let timer = try? Timer(loop: connection.loop) else { return connection.close() }
        var seen: [UInt8] = []
        func handOver(_ start: () -> Void) {
            connection.stopReading()
            timer.close()
            start()
        }
        timer.start(after: limits.requestTimeoutMillis) {
            timer.close()
            connection.close()
        }
        do {
            try connection.startReading { event in
                guard case .data(let bytes) = event else {
                    timer.close()
                    return connection.close()
                }
                seen += bytes
                if seen.count == bytes.count, let first = seen.first {
                    if first == 0x16, let tls { return handOver { tls(seen) } }
                    if let refusePlaintext { return handOver(refusePlaintext) }
                }
                let preface = WireServer.preface
                let compared = min(seen.count, preface.count)
                if seen.prefix(compared).elementsEqual(preface.prefix(compared)) {
                    if seen.count >= preface.count { handOver { serve.http2(connection, seen) } }
                    return
                }
                handOver { startHTTP1(connection, serve, seen) }
            }
        } catch {
            timer.close()
            connection.close()
        }
    }
}
