import OrchionLoop

/// One listening port for every protocol: each connection is HTTP/2 with
/// prior knowledge (gRPC) when it opens with the HTTP/2 preface
/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, and HTTP/1.1 otherwise.
///
/// HTTP/1.1 connections share `WireLimits.maxTotalUnsentOutputBytes`: each
/// stops reading new requests above its share of it (at most
/// `maxUnsentOutputBytes`), and the shares are recomputed as connections
/// come and go.
///
/// Accepted sockets get TCP keepalive (`WireLimits.keepAliveIdleSeconds`).
/// At most `WireLimits.maxConnections` are open at once: one more is answered
/// `503 Service Unavailable` with `Connection: close` and closed. Running out
/// of descriptors closes the waiting connections and keeps serving (see
/// `TCPListener.listen`).
///
/// Threading: loop thread only.
public final class WireServer {
    /// Starts serving an HTTP/2 connection, given its socket and the bytes read so far.
    public typealias HTTP2Starter = (TCPConnection, [UInt8]) -> Void

    private let listener: TCPListener
    /// The address actually bound (with the real port when 0 was asked for).
    public let address: SocketAddress
    /// Connections open now (refused ones are not counted).
    public private(set) var openConnections = 0
    /// Connections refused at the connection limit so far.
    public private(set) var refusedConnections = 0
    /// Accept errors so far (e.g. EMFILE bursts, each counted once).
    public private(set) var acceptErrors = 0
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
        loop: EventLoop, address: SocketAddress, limits: WireLimits = WireLimits(),
        http1: @escaping HTTPHandler, http1Head: HTTPHeadCheck? = nil, http2: @escaping HTTP2Starter
    ) throws(LoopError) {
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

    private func accepted(
        _ connection: TCPConnection, limits: WireLimits, http1: @escaping HTTPHandler, http1Head: HTTPHeadCheck?,
        http2: @escaping HTTP2Starter
    ) {
        guard openConnections < limits.maxConnections else {
            refusedConnections += 1
            let refusal = RPCError.json(
                code: "UNAVAILABLE", message: "server at its limit of \(limits.maxConnections) connections",
                status: 503)
            connection.write(refusal.serialized(keepAlive: false))
            connection.shutdown { _ in connection.close() }
            return
        }
        openConnections += 1
        let key = ObjectIdentifier(connection)
        sockets[key] = connection
        connection.onClosed = { [weak self] in
            guard let self else { return }
            openConnections -= 1
            sockets[key] = nil
            if http1Sockets.removeValue(forKey: key) != nil { rebalance(limits) }
        }
        connection.setNoDelay(true)
        try? connection.setKeepAlive(idleSeconds: limits.keepAliveIdleSeconds)
        Sniffer.start(
            connection, limits: limits, http1: http1, http1Head: http1Head, http2: http2,
            isHTTP1: { [weak self] in self?.startedHTTP1(connection, key: key, limits: limits) })
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

/// Reads just enough of a new connection to tell the two protocols apart.
private enum Sniffer {
    static func start(
        _ connection: TCPConnection, limits: WireLimits, http1: @escaping HTTPHandler, http1Head: HTTPHeadCheck?,
        http2: @escaping WireServer.HTTP2Starter, isHTTP1: @escaping () -> Int?
    ) {
        guard let timer = try? Timer(loop: connection.loop) else { return connection.close() }
        var seen: [UInt8] = []
        func handOver(_ start: () throws -> Void) {
            connection.stopReading()
            timer.close()
            do { try start() } catch { connection.close() }
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
                let preface = WireServer.preface
                let compared = min(seen.count, preface.count)
                if seen.prefix(compared).elementsEqual(preface.prefix(compared)) {
                    if seen.count >= preface.count { handOver { http2(connection, seen) } }
                    return
                }
                handOver {
                    let bound = isHTTP1()
                    _ = try HTTP1Connection(
                        stream: connection, limits: limits, handler: http1, headCheck: http1Head, outputBound: bound,
                        initialBytes: seen)
                }
            }
        } catch {
            timer.close()
            connection.close()
        }
    }
}
