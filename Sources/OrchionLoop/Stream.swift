import CLibUV

#if canImport(Glibc)
    import Glibc
#endif

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
/// A write to a stream that is closing or closed, or that the peer has reset,
/// fails through its completion with an error; it never raises a signal (the
/// process ignores SIGPIPE from the moment an `EventLoop` exists) and never
/// touches a released handle.
///
/// Reads land in one buffer of `readBufferSize` bytes per loop thread,
/// shared by every stream on that thread (a read's bytes are valid only
/// during its callback), so a connection, idle or not, holds no read buffer.
///
/// Threading: loop thread only.
public class Stream: LoopHandle, @unchecked Sendable {
    private var onRead: ((ReadEvent) -> Void)?
    /// Called when queued writes drop below `lowWatermark` after `write` returned false.
    public var onWritable: (() -> Void)?
    /// Called once, on the loop thread, when the stream has been closed (by
    /// anyone) and libuv has released it.
    public var onClosed: (() -> Void)?
    /// Queued bytes above which `write` returns false.
    public var highWatermark = 1 << 20
    /// Queued bytes below which `onWritable` fires.
    public var lowWatermark = 64 << 10
    /// The size of the read buffer each loop thread lends to libuv.
    public static let readBufferSize = 64 << 10
    private var blocked = false
    private var acceptedBytes = 0

    var stream: UnsafeMutablePointer<uv_stream_t> { raw.assumingMemoryBound(to: uv_stream_t.self) }

    /// Bytes queued for writing and not yet handed to the kernel.
    public var queuedBytes: Int { isClosing ? 0 : uv_stream_get_write_queue_size(stream) }

    /// Bytes handed to the kernel so far (grows while the peer reads).
    public var sentBytes: Int { acceptedBytes - queuedBytes }

    /// Bytes of read buffer allocated for the calling thread's streams, all
    /// of them together: `readBufferSize` once anything has been read on it, else 0.
    public static var readBufferBytesOnThisThread: Int {
        pthread_getspecific(readBufferKey) == nil ? 0 : readBufferSize
    }

    /// The calling thread's read buffer, allocated on first use and freed when the thread ends.
    private static func threadReadBuffer() -> UnsafeMutableRawPointer? {
        if let buffer = pthread_getspecific(readBufferKey) { return buffer }
        guard let buffer = malloc(readBufferSize) else { return nil }
        pthread_setspecific(readBufferKey, buffer)
        return buffer
    }

    private static let readBufferKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { buffer in free(buffer) }
        return key
    }()

    /// Starts delivering reads to `callback`. Fails on a closing stream.
    public func startReading(_ callback: @escaping (ReadEvent) -> Void) throws(LoopError) {
        preconditionInLoopThread()
        guard !isClosing else { throw LoopError(Int32(UV_EPIPE.rawValue), "uv_read_start on a closed stream") }
        onRead = callback
        try LoopError.check(
            uv_read_start(
                stream,
                { _, _, buf in
                    // No memory: an empty buffer, which libuv reports as UV_ENOBUFS.
                    let buffer = Stream.threadReadBuffer()
                    buf?.pointee = uv_buf_init(
                        buffer?.assumingMemoryBound(to: CChar.self), buffer == nil ? 0 : UInt32(Stream.readBufferSize))
                },
                { handle, nread, buf in
                    let stream = LoopHandle.owner(of: handle, as: Stream.self)
                    if nread > 0, let base = buf?.pointee.base {
                        stream.onRead?(.data(UnsafeRawBufferPointer(start: base, count: nread)))
                    } else if nread == Int(UV_EOF.rawValue) {
                        stream.onRead?(.eof)
                    } else if nread < 0 {
                        stream.onRead?(.error(LoopError(Int32(truncatingIfNeeded: nread), "read")))
                    }
                }), "uv_read_start")
    }

    /// Stops delivering reads (for backpressure on the reading side).
    public func stopReading() {
        preconditionInLoopThread()
        guard !isClosing else { return }
        uv_read_stop(stream)
    }

    /// Queues a copy of `bytes` for writing. Returns false once the queue is
    /// above the high watermark; wait for `onWritable` before writing more.
    /// `completion` runs on the loop thread when the bytes are written or
    /// failed; on a closing or closed stream it fails at once (UV_EPIPE) and
    /// nothing is queued.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, completion: ((LoopError?) -> Void)? = nil) -> Bool {
        preconditionInLoopThread()
        guard !isClosing else {
            completion?(LoopError(Int32(UV_EPIPE.rawValue), "write to a closed stream"))
            return false
        }
        guard bytes.count <= Int(UInt32.max) else {
            completion?(LoopError(Int32(UV_E2BIG.rawValue), "write of \(bytes.count) bytes"))
            return false
        }
        let request = WriteRequest(bytes: bytes, completion: completion, stream: self)
        let status = uv_write(request.req, stream, &request.buffer, 1) { req, status in
            guard let data = req?.pointee.data else { return }
            let request = Unmanaged<WriteRequest>.fromOpaque(data).takeRetainedValue()
            request.finish(status)
        }
        if status < 0 {
            Unmanaged.passUnretained(request).release()
            completion?(LoopError(status, "uv_write"))
            return false
        }
        acceptedBytes += bytes.count
        if queuedBytes > highWatermark { blocked = true }
        return !blocked
    }

    /// Queues a copy of `bytes`; see `write(_:completion:)`.
    @discardableResult
    public func write(_ bytes: [UInt8], completion: ((LoopError?) -> Void)? = nil) -> Bool {
        bytes.withUnsafeBytes { write($0, completion: completion) }
    }

    fileprivate func wrote() {
        if blocked && !isClosing && queuedBytes < lowWatermark {
            blocked = false
            onWritable?()
        }
    }

    /// Half-closes the writing side after queued writes finish. On a closing
    /// stream it fails at once (UV_EPIPE).
    public func shutdown(_ completion: ((LoopError?) -> Void)? = nil) {
        preconditionInLoopThread()
        guard !isClosing else {
            completion?(LoopError(Int32(UV_EPIPE.rawValue), "shutdown of a closed stream"))
            return
        }
        let request = ShutdownRequest(completion: completion)
        let status = uv_shutdown(request.req, stream) { req, status in
            guard let data = req?.pointee.data else { return }
            Unmanaged<ShutdownRequest>.fromOpaque(data).takeRetainedValue().finish(status)
        }
        if status < 0 {
            Unmanaged.passUnretained(request).release()
            completion?(LoopError(status, "uv_shutdown"))
        }
    }

    /// Stops reading and closes the stream. Pending writes complete with
    /// UV_ECANCELED. Calling close twice does nothing.
    public override func close(_ completion: (() -> Void)? = nil) {
        guard !isClosing else { return }
        onRead = nil
        onWritable = nil
        let closed = onClosed
        onClosed = nil
        super.close {
            completion?()
            closed?()
        }
    }

    /// Closes at once and discards queued output. A TCP peer gets a reset
    /// (SO_LINGER 0), not a FIN that the discarded data would hold back
    /// forever from a peer that does not read, so the kernel keeps nothing
    /// for it either. For a peer that stopped reading.
    public func closeAbruptly(_ completion: (() -> Void)? = nil) {
        preconditionInLoopThread()
        guard !isClosing else { return }
        var fd: uv_os_fd_t = -1
        if uv_fileno(handle, &fd) == 0 {
            var option = linger(l_onoff: 1, l_linger: 0)
            // Fails harmlessly (ENOTSOCK) on a pipe.
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        }
        close(completion)
    }

}

extension Stream {
    /// Sets SIGPIPE to be ignored, process-wide, once. libuv writes to
    /// sockets and pipes with write(2), which raises SIGPIPE when the peer
    /// has gone; ignored, the write fails with EPIPE and only that stream is
    /// affected. Done by every `EventLoop` and every TCP handle, so a process
    /// that does network or pipe I/O through OrchionLoop cannot be killed by
    /// a vanished peer. Thread-safe.
    public static func ignoreBrokenPipes() { _ = brokenPipesIgnored }

    private static let brokenPipesIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
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
        if let base = bytes.baseAddress, bytes.count > 0 {
            storage.baseAddress?.copyMemory(from: base, byteCount: bytes.count)
        }
        buffer = uv_buf_init(storage.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
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
