import CNGHTTP2

/// What an HTTP/2 connection reports about one stream, and what it asks of it.
/// Threading: loop thread only; the event methods run inside nghttp2's
/// callbacks, so they may submit frames but never send, receive or close.
protocol HTTP2StreamHandler: AnyObject {
    /// One header field of the current header block; false once the stream's
    /// header limit is passed (the stream is then reset, and no more fields come).
    func header(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool
    /// A HEADERS frame ended (request or response headers, or trailers).
    func headersEnded()
    /// DATA payload. The handler calls `HTTP2Connection.consume` for these
    /// bytes once the application has taken them: until then they count
    /// against the peer's flow-control window.
    func data(_ bytes: UnsafeRawBufferPointer)
    /// The peer ended its side of the stream.
    func endOfInput()
    /// The stream is gone: completed, reset by either end, or the connection closed.
    func streamClosed()
    /// Response or request bytes queued and not yet handed to nghttp2.
    var unsentBytes: Int { get }
    /// Received bytes held for the application (partial and waiting messages).
    var bufferedInboundBytes: Int { get }
    /// Called periodically: the handler resets its stream when one of its
    /// timeouts has passed.
    func checkTimeouts(now: ContinuousClock.Instant)
}

/// Bytes waiting to go out on one stream as DATA frames, pulled by nghttp2
/// as the peer's flow-control window allows. Ends with END_STREAM, or with
/// trailers when `trailers` is set.
///
/// Threading: loop thread only.
final class OutboundBody {
    private var pending: [UInt8] = []
    private var sent = 0
    /// No more bytes will be added.
    private(set) var ended = false
    /// Sent as trailers after the last byte (server side); nil ends with END_STREAM.
    var trailers: [(String, String)]?
    /// Called when everything queued so far has been handed to nghttp2.
    var onDrained: (() -> Void)?
    /// When nghttp2 last took bytes, or when bytes started waiting.
    private(set) var lastProgress = ContinuousClock.now

    /// Bytes queued and not yet handed to nghttp2.
    var queued: Int { pending.count - sent }

    func append(_ bytes: [UInt8]) {
        if queued == 0 { lastProgress = .now }
        pending += bytes
    }

    func end() { ended = true }

    /// An `nghttp2_data_provider` that reads from this body (kept alive by the caller).
    var provider: nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.source.ptr = Unmanaged.passUnretained(self).toOpaque()
        provider.read_callback = { session, streamID, buffer, length, flags, source, _ in
            guard let body = source?.pointee.ptr, let buffer, let flags else {
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            return Unmanaged<OutboundBody>.fromOpaque(body).takeUnretainedValue()
                .read(session, streamID, into: buffer, length, flags)
        }
        return provider
    }

    private func read(
        _ session: OpaquePointer?, _ streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
        _ flags: UnsafeMutablePointer<UInt32>
    ) -> Int {
        let count = min(max(length, 0), queued)
        if count > 0 {
            pending.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return }
                UnsafeMutableRawPointer(buffer).copyMemory(from: base + sent, byteCount: count)
            }
            sent += count
            lastProgress = .now
        }
        guard queued == 0 else {
            if sent >= 64 << 10 && sent * 2 >= pending.count {  // release what was sent
                pending.removeFirst(sent)
                sent = 0
            }
            return count
        }
        pending.removeAll(keepingCapacity: pending.capacity <= 64 << 10)
        sent = 0
        onDrained?()
        if !ended { return count == 0 ? Int(NGHTTP2_ERR_DEFERRED.rawValue) : count }
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        if let trailers {
            flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
            _ = withHeaders(trailers) { nghttp2_submit_trailer(session, streamID, $0, $1) }
        }
        return count
    }
}
