import CNGHTTP2
import OrchionLoop

/// Serves gRPC on one HTTP/2 connection with nghttp2: one `GRPCServerCall`
/// per stream. nghttp2 does the framing, HPACK and flow control; this type
/// moves bytes between it and the socket, never calling back into nghttp2
/// from inside its own callbacks. A protocol error ends the connection with
/// GOAWAY; other connections are unaffected.
///
/// Threading: loop thread only. Keeps itself alive until its socket closes.
final class HTTP2ServerConnection {
    let loop: EventLoop
    let services: GRPCServices
    let authenticator: Authenticator
    let limits: WireLimits
    private let socket: TCPConnection
    private(set) var session: OpaquePointer?
    private var calls: [Int32: GRPCServerCall] = [:]
    private var receiving = false
    private var closing = false
    private var closed = false
    private let idle: Timer

    init(
        socket: TCPConnection, initialBytes: [UInt8], services: GRPCServices, authenticator: Authenticator,
        limits: WireLimits
    ) throws(LoopError) {
        self.socket = socket
        loop = socket.loop
        self.services = services
        self.authenticator = authenticator
        self.limits = limits
        idle = try Timer(loop: socket.loop)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, data in
            HTTP2ServerConnection.from(data).beginHeaders(frame!.pointee.hd.stream_id)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, data in
            HTTP2ServerConnection.from(data).calls[frame!.pointee.hd.stream_id]?.header(
                String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, data in
            HTTP2ServerConnection.from(data).frameReceived(frame!.pointee.hd)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, bytes, length, data in
            HTTP2ServerConnection.from(data).calls[streamID]?.data(UnsafeRawBufferPointer(start: bytes, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, data in
            let connection = HTTP2ServerConnection.from(data)
            connection.calls.removeValue(forKey: streamID)?.streamClosed()
            connection.armIdleTimer()
            return 0
        }
        nghttp2_session_server_new(&session, callbacks, Unmanaged.passUnretained(self).toOpaque())
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: 128),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeaderBytes)
            ),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        socket.onWritable = { [self] in flush() }
        try socket.startReading { [self] event in
            switch event {
            case .data(let bytes): receive(bytes)
            case .eof, .error: close()
            }
        }
        initialBytes.withUnsafeBytes { receive($0) }
    }

    /// With no stream open, the connection is closed (GOAWAY) after the idle
    /// timeout; a peer that stalls mid-frame is dropped the same way.
    private func armIdleTimer() {
        guard calls.isEmpty, !closed else { return idle.stop() }
        idle.start(after: limits.idleTimeoutMillis) { [self] in
            guard calls.isEmpty, let session else { return }
            nghttp2_session_terminate_session(session, UInt32(NGHTTP2_NO_ERROR.rawValue))
            flush()  // sends GOAWAY, then closes: nghttp2 wants neither read nor write
        }
    }

    private static func from(_ data: UnsafeMutableRawPointer?) -> HTTP2ServerConnection {
        Unmanaged<HTTP2ServerConnection>.fromOpaque(data!).takeUnretainedValue()
    }

    private func beginHeaders(_ streamID: Int32) -> Int32 {
        calls[streamID] = GRPCServerCall(connection: self, streamID: streamID)
        return 0
    }

    private func frameReceived(_ header: nghttp2_frame_hd) -> Int32 {
        guard let call = calls[header.stream_id] else { return 0 }
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        if header.type == UInt8(NGHTTP2_HEADERS.rawValue) && !call.headersDone { call.headersComplete() }
        if endStream { call.endOfInput() }
        return 0
    }

    private func receive(_ bytes: UnsafeRawBufferPointer) {
        guard !closed, let session else { return }
        receiving = true
        let result = nghttp2_session_mem_recv(
            session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        receiving = false
        if result < 0 {
            nghttp2_session_terminate_session(session, UInt32(NGHTTP2_PROTOCOL_ERROR.rawValue))
        }
        armIdleTimer()
        flush()
    }

    /// Hands nghttp2's pending output to the socket while the socket has room.
    /// Deferred while nghttp2 is calling us (it must not be re-entered).
    func flush() {
        guard !closed, !receiving, let session else { return }
        while socket.queuedBytes < 1 << 20 {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &data)
            if length < 0 { return close() }
            if length == 0 { break }
            socket.write(UnsafeRawBufferPointer(start: data, count: length))
        }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 && !closing {
            // Done (e.g. after GOAWAY): close once the last bytes are written.
            closing = true
            socket.shutdown { [self] _ in close() }
        }
    }

    private func close() {
        guard !closed else { return }
        closed = true
        idle.close()
        for call in calls.values { call.streamClosed() }
        calls.removeAll()
        nghttp2_session_del(session)
        session = nil
        socket.close()
    }
}
