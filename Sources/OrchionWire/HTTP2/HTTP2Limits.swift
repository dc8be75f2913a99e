/// Bounds and timeouts of the HTTP/2 face (gRPC) only. The policy both
/// faces share lives in `WireLimits` and HTTP/2 applies it too: header,
/// body, request and idle limits; `maxUnsentOutputBytes` (counting response
/// bytes waiting in stream buffers as well as the socket's queue; reading
/// resumes at a quarter of it); `writeTimeoutMillis` (a connection whose
/// output makes no progress, or a stream whose response waits that long
/// for flow-control window, is dropped or reset).
///
/// Threading: a value type; read on the loop thread.
public struct HTTP2Limits: Sendable {
    /// Response bytes one stream buffers before its `send` suspends.
    public var streamSendHighWatermark = 256 << 10
    /// A PING is sent after this long without a byte from the peer.
    public var pingIntervalMillis: UInt64 = 30_000
    /// A PING unanswered for this long closes the connection.
    public var pingTimeoutMillis: UInt64 = 10_000
    /// The flow-control window each stream grants the peer (SETTINGS_INITIAL_WINDOW_SIZE):
    /// what a stream buffers at most beyond the message being assembled.
    public var streamWindowBytes: UInt32 = 64 << 10
    /// The connection-level receive window, shared by all streams.
    public var connectionWindowBytes: Int32 = 1 << 20
    /// Streams the peer may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams: UInt32 = 128
    /// CONTINUATION frames accepted after one HEADERS frame.
    public var maxContinuations = 8
    /// Outbound control frames (SETTINGS/PING ACKs, RST_STREAM) queued before
    /// a peer that keeps provoking them without reading is dropped.
    public var maxOutboundAcks = 1000
    /// Entries accepted in one SETTINGS frame.
    public var maxSettingsEntries = 32
    /// RST_STREAM frames a peer may send in a burst, then per second (rapid-reset defence).
    public var resetBurst: UInt64 = 1000
    /// See `resetBurst`.
    public var resetsPerSecond: UInt64 = 33
    /// Request bytes one connection buffers for its handlers, all streams
    /// together (partial messages, messages waiting for a handler, unary
    /// requests until their call ends). Above it, flow-control window goes
    /// back to the peer only for one stream at a time, so a connection holds
    /// at most about this plus the connection window plus one message. Never
    /// below one `maxBodyBytes` message, so one large request always fits.
    public var maxBufferedRequestBytes = 4 << 20
    /// Frames that carry nothing (empty DATA without END_STREAM, PRIORITY,
    /// unknown frame types) a peer may send in one second; more end the
    /// connection with GOAWAY(ENHANCE_YOUR_CALM).
    public var maxGlitchesPerSecond = 1000

    public init() {}
}
