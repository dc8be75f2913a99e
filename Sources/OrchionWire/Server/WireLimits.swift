/// Bounds on what a peer may send and how long it may take.
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

    // MARK: HTTP/2 (owned by the HTTP/2 face)

    /// HTTP/2's own bounds: unsent output, write and PING timeouts, flow-control windows.
    public var http2 = HTTP2Limits()

    public init() {}
}
