import OrchionLoop

/// A connection's byte stream as the HTTP/1.1 and HTTP/2 code sees it: a
/// plain TCP socket (`Stream`) or TLS over one (`TLSStream`). The contract
/// is `Stream`'s: reads go to one callback (bytes valid only during it),
/// `write` copies and returns false above `highWatermark`, `onWritable`
/// fires below `lowWatermark`.
///
/// Threading: loop thread only.
public protocol ByteStream: AnyObject {
    /// The loop the stream belongs to.
    var loop: EventLoop { get }
    /// Whether the stream is closing or closed.
    var isClosing: Bool { get }
    /// Queued bytes above which `write` returns false.
    var highWatermark: Int { get set }
    /// Queued bytes below which `onWritable` fires.
    var lowWatermark: Int { get set }
    /// Called when queued writes drop below `lowWatermark` after `write` returned false.
    var onWritable: (() -> Void)? { get set }
    /// Bytes queued for writing and not yet handed to the kernel.
    var queuedBytes: Int { get }
    /// Bytes handed to the kernel so far (grows while the peer reads).
    var sentBytes: Int { get }
    /// The remote address, when connected over TCP.
    var peerAddress: SocketAddress? { get }
    /// Starts delivering reads to `callback`.
    func startReading(_ callback: @escaping (ReadEvent) -> Void) throws(LoopError)
    /// Stops delivering reads.
    func stopReading()
    /// Queues a copy of `bytes`; false once above the high watermark.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer, completion: ((LoopError?) -> Void)?) -> Bool
    /// Half-closes the writing side after queued writes finish.
    func shutdown(_ completion: ((LoopError?) -> Void)?)
    /// Closes the stream; queued writes are cancelled.
    func close(_ completion: (() -> Void)?)
    /// Closes at once, discarding queued output (a reset for TCP).
    func closeAbruptly(_ completion: (() -> Void)?)
}

extension ByteStream {
    /// Queues a copy of `bytes`; see `write(_:completion:)`.
    @discardableResult
    public func write(_ bytes: [UInt8], completion: ((LoopError?) -> Void)? = nil) -> Bool {
        bytes.withUnsafeBytes { write($0, completion: completion) }
    }

    /// Queues a copy of `bytes` with no completion.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool { write(bytes, completion: nil) }

    /// Half-closes with no completion.
    public func shutdown() { shutdown(nil) }

    /// Closes with no completion.
    public func close() { close(nil) }

    /// Closes abruptly with no completion.
    public func closeAbruptly() { closeAbruptly(nil) }
}

extension Stream: ByteStream {
    /// The remote address of a TCP connection; nil for a pipe.
    public var peerAddress: SocketAddress? { (self as? TCPConnection)?.peer }
}
