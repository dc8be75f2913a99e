/// The log store's limits and retention policy.
///
/// Threading: a value; safe anywhere.
public struct LogLimits: Sendable, Hashable {
    /// What one attempt may use on disk: the output bytes kept plus 32 index
    /// bytes per chunk kept (so a flood of tiny chunks is bounded too). Past
    /// it output is dropped, counted, and one marker line
    /// "[orchion: output truncated after N bytes]" is written (on top of the cap).
    public var maxBytesPerAttempt: UInt64
    /// Finished jobs' logs older than this (since their last write) are removed.
    public var retentionAge: Duration
    /// When all logs together exceed this, finished jobs' logs are removed,
    /// the least recently written first, until they fit.
    public var retentionBytes: UInt64
    /// How often the retention sweep runs.
    public var sweepInterval: Duration
    /// An attempt's files are closed after this long without a write (they
    /// reopen on the next chunk).
    public var idleClose: Duration
    /// About how many bytes of chunks one reader may have waiting before the
    /// store stops adding (and the reader continues from the file).
    public var followerBuffer: Int
    /// The most bytes one read from the file takes.
    public var readPiece: Int

    public init(
        maxBytesPerAttempt: UInt64 = 64 << 20, retentionAge: Duration = .seconds(7 * 24 * 3600),
        retentionBytes: UInt64 = 10 << 30, sweepInterval: Duration = .seconds(300), idleClose: Duration = .seconds(60),
        followerBuffer: Int = 256 << 10, readPiece: Int = 64 << 10
    ) {
        self.maxBytesPerAttempt = maxBytesPerAttempt
        self.retentionAge = retentionAge
        self.retentionBytes = retentionBytes
        self.sweepInterval = sweepInterval
        self.idleClose = idleClose
        self.followerBuffer = followerBuffer
        self.readPiece = readPiece
    }
}

/// What one `append` did with its chunk's bytes.
public struct LogAppendResult: Sendable, Hashable {
    /// Bytes written to the log.
    public var written: UInt64 = 0
    /// Bytes already received (a redelivery), skipped.
    public var duplicate: UInt64 = 0
    /// Bytes dropped: over the cap, after the attempt finished, or after a write error.
    public var dropped: UInt64 = 0
    /// Whether the chunk started past the stream's received end (bytes in
    /// between never arrived; the gap is recorded in the index).
    public var gap = false

    public init() {}
}

/// What the store knows about one attempt's log.
public struct LogAttemptInfo: Sendable, Hashable {
    /// Bytes in the log file (output kept, plus the marker line if any).
    public var size: UInt64
    /// Output bytes dropped (over the cap or after the attempt finished).
    public var dropped: UInt64
    /// Whether the cap was reached (the marker line is in the log).
    public var truncated: Bool
    /// Whether `finish` was called for it.
    public var finished: Bool
    /// Per stream, the end of the highest offset received.
    public var stdoutReceived: UInt64
    public var stderrReceived: UInt64
}

/// What a retention sweep removed.
public struct LogSweepResult: Sendable, Hashable {
    /// Jobs whose logs were removed for age.
    public var removedForAge: [String] = []
    /// Jobs whose logs were removed to fit `retentionBytes`.
    public var removedForSize: [String] = []
    /// Bytes of logs before the sweep and after it.
    public var bytesBefore: UInt64 = 0
    public var bytesAfter: UInt64 = 0

    public init() {}
}
