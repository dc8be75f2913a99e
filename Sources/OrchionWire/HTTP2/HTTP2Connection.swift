import CNGHTTP2
import OrchionLoop

/// One HTTP/2 connection over nghttp2, as server or client. nghttp2 does the
/// framing, HPACK and flow control; this type moves bytes between it and the
/// socket — never calling back into nghttp2 from inside its own callbacks —
/// and dispatches each stream's events to its `HTTP2StreamHandler`. A
/// protocol error ends the connection with GOAWAY; others are unaffected.
///
/// Threading: loop thread only. Keeps itself alive until its socket closes.
final class HTTP2Connection {
    /// Which end of the connection this is.
    enum Role {
        /// Creates a handler for each stream a client opens.
        case server(accept: (HTTP2Connection, Int32) -> HTTP2StreamHandler)
        /// Opens streams itself (`submitRequest`).
        case client
    }

    let loop: EventLoop
    let limits: WireLimits
    private let socket: TCPConnection
    private let role: Role
    private(set) var session: OpaquePointer?
    private var streams: [Int32: HTTP2StreamHandler] = [:]
    private var receiving = false
    private var closing = false
    private(set) var closed = false
    private let idle: Timer
    /// Called once when the connection is gone.
    var onClose: (() -> Void)?

    init(socket: TCPConnection, role: Role, limits: WireLimits, initialBytes: [UInt8] = []) throws(LoopError) {
        self.socket = socket
        self.role = role
        self.limits = limits
        loop = socket.loop
        idle = try Timer(loop: socket.loop)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, data in
            HTTP2Connection.from(data).beginHeaders(frame!.pointee.hd.stream_id)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, data in
            HTTP2Connection.from(data).streams[frame!.pointee.hd.stream_id]?.header(
                String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, data in
            HTTP2Connection.from(data).frameReceived(frame!.pointee.hd)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, bytes, length, data in
            HTTP2Connection.from(data).streams[streamID]?.data(UnsafeRawBufferPointer(start: bytes, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, data in
            let connection = HTTP2Connection.from(data)
            connection.streams.removeValue(forKey: streamID)?.streamClosed()
            connection.armIdleTimer()
            return 0
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        if case .server = role {
            nghttp2_session_server_new(&session, callbacks, me)
        } else {
            nghttp2_session_client_new(&session, callbacks, me)
        }
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
        armIdleTimer()
    }

    private static func from(_ data: UnsafeMutableRawPointer?) -> HTTP2Connection {
        Unmanaged<HTTP2Connection>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Opens a client stream with `headers` and a request body; returns its id,
    /// or nil when the connection cannot take more streams.
    func submitRequest(_ headers: [(String, String)], body: OutboundBody, handler: HTTP2StreamHandler) -> Int32? {
        guard !closed, !closing, let session else { return nil }
        var provider = body.provider
        let streamID = withHeaders(headers) { nghttp2_submit_request(session, nil, $0, $1, &provider, nil) }
        guard streamID > 0 else { return nil }
        streams[streamID] = handler
        armIdleTimer()
        flush()
        return streamID
    }

    private func beginHeaders(_ streamID: Int32) -> Int32 {
        if case .server(let accept) = role, streams[streamID] == nil {
            streams[streamID] = accept(self, streamID)
        }
        return 0
    }

    private func frameReceived(_ header: nghttp2_frame_hd) -> Int32 {
        guard let stream = streams[header.stream_id] else { return 0 }
        if header.type == UInt8(NGHTTP2_HEADERS.rawValue) { stream.headersEnded() }
        if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            && (header.type == UInt8(NGHTTP2_HEADERS.rawValue) || header.type == UInt8(NGHTTP2_DATA.rawValue))
        {
            stream.endOfInput()
        }
        return 0
    }

    /// A server connection with no open stream is closed (GOAWAY) after the
    /// idle timeout; a peer that stalls mid-frame is dropped the same way.
    private func armIdleTimer() {
        guard case .server = role, streams.isEmpty, !closed else { return idle.stop() }
        idle.start(after: limits.idleTimeoutMillis) { [self] in
            guard streams.isEmpty, let session else { return }
            nghttp2_session_terminate_session(session, UInt32(NGHTTP2_NO_ERROR.rawValue))
            flush()
        }
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

    /// Resets one stream (e.g. a cancelled client call).
    func reset(_ streamID: Int32) {
        guard let session, !closed else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, UInt32(NGHTTP2_CANCEL.rawValue))
        flush()
    }

    /// Sends GOAWAY and closes once it is written.
    func shutdown() {
        guard let session, !closed else { return }
        nghttp2_session_terminate_session(session, UInt32(NGHTTP2_NO_ERROR.rawValue))
        flush()
    }

    func close() {
        guard !closed else { return }
        closed = true
        idle.close()
        let open = streams.values
        streams.removeAll()
        for stream in open { stream.streamClosed() }
        nghttp2_session_del(session)
        session = nil
        socket.close()
        onClose?()
        onClose = nil
    }
}
