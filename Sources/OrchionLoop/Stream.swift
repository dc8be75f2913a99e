import CLibUV

/// What a stream's read callback receives.
public enum ReadEvent {
    /// Bytes read; the buffer is valid only during the callback.
    case data(UnsafeRawBufferPointer)
    /// The peer closed its side.
    case eof
    /// Reading failed; the stream should be closed.
    case error(LoopError)
}

/// A libuv stream (TCP socket or pipe) with write backpressure.
///
/// `write` queues bytes and returns whether the caller may keep writing: once
/// more than `highWatermark` bytes are queued it returns false, and
/// `onWritable` fires when the queue has drained below `lowWatermark`.
///
/// Threading: loop thread only.
public class Stream: LoopHandle, @unchecked Sendable {
    private var onRead: ((ReadEvent) -> Void)?
    /// Called when queued writes drop below `lowWatermark` after `write` returned false.
    public var onWritable: (() -> Void)?
    /// Queued bytes above which `write` returns false.
    public var highWatermark = 1 << 20
    /// Queued bytes below which `onWritable` fires.
    public var lowWatermark = 64 << 10
    private var blocked = false
    private var readBuffer: UnsafeMutableRawBufferPointer?

    var stream: UnsafeMutablePointer<uv_stream_t> { raw.assumingMemoryBound(to: uv_stream_t.self) }

    /// Bytes queued for writing and not yet handed to the kernel.
    public var queuedBytes: Int { uv_stream_get_write_queue_size(stream) }

    /// Starts delivering reads to `callback`.
    public func startReading(_ callback: @escaping (ReadEvent) -> Void) throws(LoopError) {
        onRead = callback
        try LoopError.check(
            uv_read_start(
                stream,
                { handle, suggested, buf in
                    let stream = LoopHandle.owner(of: handle, as: Stream.self)
                    if stream.readBuffer == nil {
                        stream.readBuffer = .allocate(byteCount: 64 << 10, alignment: 8)
                    }
                    buf!.pointee = uv_buf_init(
                        stream.readBuffer!.baseAddress!.assumingMemoryBound(to: CChar.self),
                        UInt32(stream.readBuffer!.count))
                },
                { handle, nread, buf in
                    let stream = LoopHandle.owner(of: handle, as: Stream.self)
                    if nread > 0 {
                        stream.onRead?(.data(UnsafeRawBufferPointer(start: buf!.pointee.base, count: nread)))
                    } else if nread == Int(UV_EOF.rawValue) {
                        stream.onRead?(.eof)
                    } else if nread < 0 {
                        stream.onRead?(.error(LoopError(Int32(nread), "read")))
                    }
                }), "uv_read_start")
    }

    /// Stops delivering reads (for backpressure on the reading side).
    public func stopReading() {
        uv_read_stop(stream)
    }

    /// Queues a copy of `bytes` for writing. Returns false once the queue is
    /// above the high watermark; wait for `onWritable` before writing more.
    /// `completion` runs on the loop thread when the bytes are written or failed.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, completion: ((LoopError?) -> Void)? = nil) -> Bool {
        let request = WriteRequest(bytes: bytes, completion: completion, stream: self)
        let status = uv_write(request.req, stream, &request.buffer, 1) { req, status in
            let request = Unmanaged<WriteRequest>.fromOpaque(req!.pointee.data).takeRetainedValue()
            request.finish(status)
        }
        if status < 0 {
            Unmanaged.passUnretained(request).release()
            completion?(LoopError(status, "uv_write"))
            return false
        }
        if queuedBytes > highWatermark { blocked = true }
        return !blocked
    }

    /// Queues a copy of `bytes`; see `write(_:completion:)`.
    @discardableResult
    public func write(_ bytes: [UInt8], completion: ((LoopError?) -> Void)? = nil) -> Bool {
        bytes.withUnsafeBytes { write($0, completion: completion) }
    }

    fileprivate func wrote() {
        if blocked && queuedBytes < lowWatermark {
            blocked = false
            onWritable?()
        }
    }

    /// Half-closes the writing side after queued writes finish.
    public func shutdown(_ completion: ((LoopError?) -> Void)? = nil) {
        let request = ShutdownRequest(completion: completion)
        let status = uv_shutdown(request.req, stream) { req, status in
            Unmanaged<ShutdownRequest>.fromOpaque(req!.pointee.data).takeRetainedValue().finish(status)
        }
        if status < 0 {
            Unmanaged.passUnretained(request).release()
            completion?(LoopError(status, "uv_shutdown"))
        }
    }

    /// Stops reading and closes the stream.
    public override func close(_ completion: (() -> Void)? = nil) {
        onRead = nil
        onWritable = nil
        super.close(completion)
    }

    deinit { readBuffer?.deallocate() }
}

/// One `uv_write_t` and the bytes it owns; retained until libuv calls back.
private final class WriteRequest {
    let req = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
    var buffer: uv_buf_t
    let storage: UnsafeMutableRawBufferPointer
    let completion: ((LoopError?) -> Void)?
    let stream: Stream

    init(bytes: UnsafeRawBufferPointer, completion: ((LoopError?) -> Void)?, stream: Stream) {
        storage = .allocate(byteCount: max(bytes.count, 1), alignment: 1)
        if let base = bytes.baseAddress { storage.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
        buffer = uv_buf_init(storage.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        self.completion = completion
        self.stream = stream
        req.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    func finish(_ status: Int32) {
        completion?(status < 0 ? LoopError(status, "write") : nil)
        stream.wrote()
    }

    deinit {
        storage.deallocate()
        req.deallocate()
    }
}

/// One `uv_shutdown_t`; retained until libuv calls back.
private final class ShutdownRequest {
    let req = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
    let completion: ((LoopError?) -> Void)?

    init(completion: ((LoopError?) -> Void)?) {
        self.completion = completion
        req.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    func finish(_ status: Int32) { completion?(status < 0 ? LoopError(status, "shutdown") : nil) }

    deinit { req.deallocate() }
}
