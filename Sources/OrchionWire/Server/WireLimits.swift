/// Bounds on what a peer may send, how long it may take, and how much the
/// server holds for it.
public struct WireLimits: Sendable {
    /// Request line and headers together, in bytes (HTTP/1.1); larger gets 431.
    public var maxHeaderBytes = 16 << 10
    /// Request body, in bytes; larger gets 413 (HTTP/1.1) or RESOURCE_EXHAUSTED (gRPC).
    public var maxBodyBytes = 4 << 20
    /// A request must arrive whole within this many milliseconds of its first byte (408).
    public var requestTimeoutMillis: UInt64 = 10_000
    /// An idle keep-alive connection is closed after this many milliseconds.
    public var idleTimeoutMillis: UInt64 = 60_000
    /// Pipelined requests buffered per connection before reading pauses.
    public var maxPipelinedRequests = 16
    /// Unsent response bytes per connection above which the server stops
    /// reading (and answering) that connection's requests; it resumes once
    /// the peer has read the backlog down to a quarter of this. A client that
    /// sends and never reads costs at most about this much plus one answer.
    public var maxUnsentOutputBytes = 1 << 20
    /// Unsent response bytes for all HTTP/1.1 connections together: each
    /// connection's bound is `maxUnsentOutputBytes` or an even share of this
    /// (rounded down to a power of two), whichever is smaller, so many slow
    /// readers together cost about this plus one answer each.
    public var maxTotalUnsentOutputBytes = 64 << 20
    /// A connection whose unsent output makes no progress for this many
    /// milliseconds (the peer stopped reading) is dropped; this covers
    /// Server-Sent Events streams too.
    public var writeTimeoutMillis: UInt64 = 30_000
    /// TCP keepalive on accepted connections: the first probe after this
    /// many seconds of silence, so a peer that vanished is found.
    public var keepAliveIdleSeconds: UInt32 = 60
    /// Open connections at once; one more is answered `503` (a JSON
    /// UNAVAILABLE error with `Connection: close`) and closed.
    public var maxConnections = 4096
    /// Open connections at once from one remote address (loopback peers
    /// are not bounded); one more is answered like one past
    /// `maxConnections`. 0: no bound.
    public var maxConnectionsPerPeer = 256
    /// A TLS handshake must finish within this many milliseconds of the
    /// ClientHello's first byte, or the connection is closed.
    public var tlsHandshakeTimeoutMillis: UInt64 = 10_000

    // MARK: HTTP/2 (owned by the HTTP/2 face)

    /// How repeated authentication failures from one peer are slowed down
    /// (both faces; see `AuthFailureThrottle`).
    public var authFailures = AuthFailurePolicy()

    /// HTTP/2's own bounds: unsent output, write and PING timeouts, flow-control windows.
    public var http2 = HTTP2Limits()

    public init() {}
}
