import CNGHTTP2

/// What an HTTP/2 connection reports about one stream.
/// Threading: loop thread only, from inside nghttp2's callbacks.
protocol HTTP2StreamHandler: AnyObject {
    /// One header field of the current HEADERS frame.
    func header(_ name: String, _ value: String)
    /// A HEADERS frame ended (request or response headers, or trailers).
    func headersEnded()
    /// DATA payload.
    func data(_ bytes: UnsafeRawBufferPointer)
    /// The peer ended its side of the stream.
    func endOfInput()
    /// The stream is gone: completed, reset by the peer, or the connection closed.
    func streamClosed()
}

/// Bytes waiting to go out on one stream as DATA frames, pulled by nghttp2
/// as the peer's flow-control window allows. Ends with END_STREAM, or with
/// trailers when `trailers` is set.
final class OutboundBody {
    private var pending: [UInt8] = []
    private var sent = 0
    /// No more bytes will be added.
    private(set) var ended = false
    /// Sent as trailers after the last byte (server side); nil ends with END_STREAM.
    var trailers: [(String, String)]?
    /// Called when everything queued so far has been handed to nghttp2.
    var onDrained: (() -> Void)?

    /// Bytes queued and not yet handed to nghttp2.
    var queued: Int { pending.count - sent }

    func append(_ bytes: [UInt8]) { pending += bytes }

    func end() { ended = true }

    /// An `nghttp2_data_provider` that reads from this body (kept alive by the caller).
    var provider: nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.source.ptr = Unmanaged.passUnretained(self).toOpaque()
        provider.read_callback = { session, streamID, buffer, length, flags, source, _ in
            Unmanaged<OutboundBody>.fromOpaque(source!.pointee.ptr).takeUnretainedValue()
                .read(session, streamID, into: buffer!, length, flags!)
        }
        return provider
    }

    private func read(
        _ session: OpaquePointer?, _ streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
        _ flags: UnsafeMutablePointer<UInt32>
    ) -> Int {
        let count = min(length, queued)
        pending.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + sent, byteCount: count)
        }
        sent += count
        guard queued == 0 else { return count }
        pending.removeAll(keepingCapacity: true)
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
