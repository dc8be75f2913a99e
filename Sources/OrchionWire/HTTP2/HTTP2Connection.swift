import CNGHTTP2
import Glibc
import OrchionLoop

/// One HTTP/2 connection over nghttp2, as server or client. nghttp2 does the
/// framing, HPACK and flow control; this type moves bytes between it and the
/// socket and dispatches each stream's events to its `HTTP2StreamHandler`.
/// A protocol error ends the connection with GOAWAY; others are unaffected.
///
/// Bounds and liveness: nghttp2's protective options are set explicitly;
/// inbound DATA is acknowledged (WINDOW_UPDATE) only as handlers consume it,
/// and while the request bytes buffered for all streams are over
/// `HTTP2Limits.maxBufferedRequestBytes`, only for one stream at a time (the
/// rest waits until bytes are released, so the peer stalls on the windows);
/// a burst of frames that carry nothing (`HTTP2Limits.maxGlitchesPerSecond`)
/// ends the connection with GOAWAY(ENHANCE_YOUR_CALM);
/// reading pauses while unsent output exceeds `WireLimits.maxUnsentOutputBytes`;
/// output that makes no progress for the write timeout closes the
/// connection; a PING goes out after a quiet interval and an unanswered one
/// closes the connection; every stream checks its own timeouts on each tick.
///
/// Re-entrancy: nghttp2 is never re-entered. While it is calling us (receive
/// or send), `flush`, `consume` and `close` are deferred until it returns.
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
    private let socket: any ByteStream
    /// The peer's numeric address, when connected over TCP.
    var peerHost: String? { socket.peerAddress?.host }
    private let role: Role
    private(set) var session: OpaquePointer?
    private var streams: [Int32: HTTP2StreamHandler] = [:]
    /// Depth of calls into nghttp2 that may call back.
    private var busy = 0
    private var flushDeferred = false
    private var closeDeferred = false
    private var pendingConsumption: [(Int32, Int)] = []
    /// Request bytes the stream handlers hold, all streams together.
    private var bufferedRequestBytes = 0
    /// `maxBufferedRequestBytes`, but never below one framed `maxBodyBytes` message.
    private let requestBudget: Int
    /// Window held back while over `requestBudget`, by stream.
    private var deferredConsumption: [Int32: Int] = [:]
    /// The one stream whose window still goes back while over `requestBudget`.
    private var favored: Int32?
    /// Streams whose handler holds part of a message.
    private var partialStreams: Set<Int32> = []
    /// Frames that carried nothing in the current one-second window.
    private var glitches = 0
    private var glitchWindowStart = ContinuousClock.now
    /// GOAWAY(ENHANCE_YOUR_CALM) was submitted.
    private var calmed = false
    /// Streams to reset once their final frame is sent.
    private var resetAfterEnd: Set<Int32> = []
    private var closing = false
    private(set) var closed = false
    private var readingPaused = false
    /// The last flush stopped because the socket held `maxUnsentOutputBytes`.
    private var socketFull = false
    private var lastReceived = ContinuousClock.now
    private var lastWriteProgress = ContinuousClock.now
    private var pingSentAt: ContinuousClock.Instant?
    private let idle: Timer
    #if DEBUG
        private let peerPort: UInt16?
    #endif
    private let watchdog: Timer
    /// Called once when the connection is gone.
    var onClose: (() -> Void)?

    init(socket: any ByteStream, role: Role, limits: WireLimits, initialBytes: [UInt8] = []) throws(LoopError) {
        self.socket = socket
        self.role = role
        self.limits = limits
        loop = socket.loop
        let (body, overflow) = limits.maxBodyBytes.addingReportingOverflow(5)
        requestBudget = max(limits.http2.maxBufferedRequestBytes, overflow ? Int.max : body)
        #if DEBUG
            peerPort = socket.peerAddress?.port
        #endif
        idle = try Timer(loop: socket.loop)
        do {
            watchdog = try Timer(loop: socket.loop)
        } catch {
            idle.close()
            throw error
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        var created: OpaquePointer?
        Self.withCallbacks { callbacks in
            Self.withOptions(limits.http2) { options in
                if case .server = role {
                    _ = nghttp2_session_server_new2(&created, callbacks, me, options)
                } else {
                    _ = nghttp2_session_client_new2(&created, callbacks, me, options)
                }
            }
        }
        guard let created else {
            idle.close()
            watchdog.close()
            throw LoopError(-12, "nghttp2_session_new")  // ENOMEM
        }
        session = created
        let http2 = limits.http2
        var settings = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: http2.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                value: UInt32(clamping: limits.maxHeaderBytes)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                value: min(http2.streamWindowBytes, UInt32(Int32.max))),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
        ]
        if case .server = role { settings.removeLast() }  // ENABLE_PUSH is the client's to send
        nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        nghttp2_session_set_local_window_size(
            created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, max(http2.connectionWindowBytes, 65_535))
        socket.onWritable = { [self] in flush() }
        do {
            try socket.startReading { [self] event in readEvent(event) }
        } catch {
            socket.onWritable = nil
            nghttp2_session_del(created)
            session = nil
            idle.close()
            watchdog.close()
            throw error
        }
        initialBytes.withUnsafeBytes { receive($0) }
        armIdleTimer()
        let tick = max(
            10,
            min(
                limits.writeTimeoutMillis, http2.pingIntervalMillis, http2.pingTimeoutMillis,
                limits.requestTimeoutMillis) / 4)
        watchdog.start(after: tick, repeat: tick) { [weak self] in self?.checkTimeouts() }
    }

    /// nghttp2's callbacks, which find the connection through the session's user data.
    private static func withCallbacks(_ body: (OpaquePointer?) -> Void) {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, data in
            guard let connection = HTTP2Connection.from(data), let frame else { return 0 }
            return connection.beginHeaders(frame.pointee.hd.stream_id)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, data in
            guard let connection = HTTP2Connection.from(data), let frame,
                let stream = connection.streams[frame.pointee.hd.stream_id]
            else { return 0 }
            let accepted = stream.header(
                name: UnsafeRawBufferPointer(start: name, count: name == nil ? 0 : nameLength),
                value: UnsafeRawBufferPointer(start: value, count: value == nil ? 0 : valueLength))
            return accepted ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, data in
            guard let connection = HTTP2Connection.from(data), let frame else { return 0 }
            return connection.frameReceived(frame.pointee.hd)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, bytes, length, data in
            guard let connection = HTTP2Connection.from(data) else { return 0 }
            let chunk = UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : length)
            if let stream = connection.streams[streamID] {
                stream.data(chunk)
            } else {
                connection.consume(streamID, chunk.count)  // nobody will take it
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, data in
            guard let connection = HTTP2Connection.from(data) else { return 0 }
            connection.resetAfterEnd.remove(streamID)
            connection.streams.removeValue(forKey: streamID)?.streamClosed()
            // Its bytes are no longer held: the connection window they took goes back.
            if let count = connection.deferredConsumption.removeValue(forKey: streamID) {
                connection.giveBack(streamID, count)
            }
            connection.armIdleTimer()
            return 0
        }
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks) { _, _, _, data in
            HTTP2Connection.from(data)?.glitch() ?? 0
        }
        nghttp2_session_callbacks_set_unpack_extension_callback(callbacks) { _, _, _, data in
            // An unknown frame type: ignored, but counted.
            let result = HTTP2Connection.from(data)?.glitch() ?? 0
            return result == 0 ? NGHTTP2_ERR_CANCEL.rawValue : result
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { session, frame, data in
            guard let connection = HTTP2Connection.from(data), let frame else { return 0 }
            let header = frame.pointee.hd
            if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
                connection.resetAfterEnd.remove(header.stream_id) != nil
            {
                nghttp2_submit_rst_stream(
                    session, UInt8(NGHTTP2_FLAG_NONE.rawValue), header.stream_id, NGHTTP2_NO_ERROR.rawValue)
            }
            return 0
        }
        body(callbacks)
    }

    /// nghttp2's protective options, set explicitly rather than left to the
    /// installed library's defaults.
    private static func withOptions(_ limits: HTTP2Limits, _ body: (OpaquePointer?) -> Void) {
        var options: OpaquePointer?
        nghttp2_option_new(&options)
        defer { nghttp2_option_del(options) }
        nghttp2_option_set_no_auto_window_update(options, 1)
        nghttp2_option_set_max_deflate_dynamic_table_size(options, 4096)
        nghttp2_option_set_max_send_header_block_length(options, 64 << 10)
        nghttp2_option_set_max_outbound_ack(options, max(limits.maxOutboundAcks, 1))
        nghttp2_option_set_max_settings(options, max(limits.maxSettingsEntries, 1))
        nghttp2_option_set_max_continuations(options, max(limits.maxContinuations, 0))
        nghttp2_option_set_stream_reset_rate_limit(options, limits.resetBurst, limits.resetsPerSecond)
        nghttp2_option_set_max_reserved_remote_streams(options, 0)
        nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(options, 0)
        nghttp2_option_set_no_http_messaging(options, 0)
        nghttp2_option_set_no_closed_streams(options, 0)
        // Extension frames reach `unpack_extension_callback` (to be counted as glitches).
        for type in UInt8(10)...UInt8(255) { nghttp2_option_set_user_recv_extension_type(options, type) }
        body(options)
    }

    private static func from(_ data: UnsafeMutableRawPointer?) -> HTTP2Connection? {
        guard let data else { return nil }
        let connection = Unmanaged<HTTP2Connection>.fromOpaque(data).takeUnretainedValue()
        return connection.closed ? nil : connection
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
            idle.stop()
        }
        return 0
    }

    private func frameReceived(_ header: nghttp2_frame_hd) -> Int32 {
        if header.type == UInt8(NGHTTP2_DATA.rawValue) && header.length == 0
            && header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) == 0
        {
            return glitch()  // empty DATA that does not even end the stream
        }
        if header.type == UInt8(NGHTTP2_PRIORITY.rawValue) { return glitch() }  // ignored by this server
        if header.type == UInt8(NGHTTP2_PING.rawValue), header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 {
            pingSentAt = nil
            return 0
        }
        guard let stream = streams[header.stream_id] else { return 0 }
        if header.type == UInt8(NGHTTP2_HEADERS.rawValue) { stream.headersEnded() }
        if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            && (header.type == UInt8(NGHTTP2_HEADERS.rawValue) || header.type == UInt8(NGHTTP2_DATA.rawValue))
        {
            stream.endOfInput()
        }
        return 0
    }

    /// One frame that carried nothing; past `maxGlitchesPerSecond` in one
    /// second the connection ends with GOAWAY(ENHANCE_YOUR_CALM) and the
    /// result (an nghttp2 callback's) stops the input at once.
    private func glitch() -> Int32 {
        let now = ContinuousClock.now
        if now - glitchWindowStart >= .seconds(1) {
            glitchWindowStart = now
            glitches = 0
        }
        glitches += 1
        guard glitches > limits.http2.maxGlitchesPerSecond, let session else { return 0 }
        calmed = true
        nghttp2_session_terminate_session(session, UInt32(NGHTTP2_ENHANCE_YOUR_CALM.rawValue))
        return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
    }

    /// Tells nghttp2 that `count` DATA bytes of `streamID` were taken by the
    /// application, so their flow-control window goes back to the peer.
    ///
    /// While the connection's buffered request bytes are over budget, window
    /// goes back only to the favored stream: one stream in the middle of a
    /// message (the oldest waiting), so that message can complete and be
    /// handled; the rest waits in `deferredConsumption` until the connection
    /// is under budget again. A closed stream's bytes are no longer held, so
    /// their window always goes back.
    func consume(_ streamID: Int32, _ count: Int) {
        guard count > 0, !closed else { return }
        if bufferedRequestBytes > requestBudget && streamID != favored && streams[streamID] != nil {
            if favored == nil && partialStreams.contains(streamID) {
                favored = streamID
            } else {
                deferredConsumption[streamID, default: 0] += count
                return
            }
        }
        giveBack(streamID, count)
    }

    /// A stream handler's buffered request bytes changed from `old` to `new`;
    /// `partial`: it holds part of a message. Back under budget, the deferred
    /// window goes back; still over it, a stream mid-message is favored.
    func requestBytesBuffered(_ streamID: Int32, from old: Int, to new: Int, partial: Bool) {
        bufferedRequestBytes += new - old
        if partial {
            partialStreams.insert(streamID)
        } else {
            partialStreams.remove(streamID)
            if favored == streamID { favored = nil }
        }
        guard !closed, !deferredConsumption.isEmpty else { return }
        if bufferedRequestBytes <= requestBudget {
            let deferred = deferredConsumption
            deferredConsumption = [:]
            favored = nil
            for (id, count) in deferred { giveBack(id, count) }
        } else if favored == nil,
            let next = deferredConsumption.keys.filter({ partialStreams.contains($0) }).min(),
            let count = deferredConsumption.removeValue(forKey: next)
        {
            favored = next
            giveBack(next, count)
        }
    }

    private func giveBack(_ streamID: Int32, _ count: Int) {
        if busy > 0 { return pendingConsumption.append((streamID, count)) }
        guard let session else { return }
        _ = nghttp2_session_consume(session, streamID, count)
        flush()
    }

    /// A server connection with no open stream is closed (GOAWAY) after the
    /// idle timeout, counted from when its last stream closed (or from the
    /// start): frames outside streams (PING, SETTINGS, WINDOW_UPDATE) do not
    /// keep it; a peer that stalls mid-frame is dropped the same way.
    private func armIdleTimer() {
        guard case .server = role, streams.isEmpty, !closed else { return idle.stop() }
        idle.start(after: limits.idleTimeoutMillis) { [self] in
            guard streams.isEmpty, let session else { return }
            nghttp2_session_terminate_session(session, UInt32(NGHTTP2_NO_ERROR.rawValue))
            flush()
        }
    }

    // MARK: Input

    private func readEvent(_ event: ReadEvent) {
        switch event {
        case .data(let bytes): receive(bytes)
        case .eof, .error: close()
        }
    }

    private func receive(_ bytes: UnsafeRawBufferPointer) {
        guard !closed, let session, bytes.count > 0 else { return }
        lastReceived = .now
        let result = callingNGHTTP2 {
            nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        guard !closed else { return }
        if result < 0 && !calmed {
            nghttp2_session_terminate_session(session, UInt32(NGHTTP2_PROTOCOL_ERROR.rawValue))
        }
        flush()
    }

    /// Runs one nghttp2 call that may call back, then what the callbacks deferred.
    private func callingNGHTTP2<T>(_ call: () -> T) -> T {
        busy += 1
        let result = call()
        busy -= 1
        guard busy == 0 else { return result }
        if closeDeferred {
            closeDeferred = false
            close()
            return result
        }
        if let session, !pendingConsumption.isEmpty {
            let consumed = pendingConsumption
            pendingConsumption = []
            for (streamID, count) in consumed { _ = nghttp2_session_consume(session, streamID, count) }
            flushDeferred = true
        }
        return result
    }

    // MARK: Output

    /// Response bytes waiting in stream buffers plus bytes queued on the socket.
    var unsentBytes: Int {
        streams.values.reduce(socket.queuedBytes) { $0 + $1.unsentBytes }
    }

    /// Response bytes of one connection waiting for the peer's flow-control
    /// window above which reading pauses anyway, so a peer that asks for
    /// many large replies and grants no window cannot pin more than this
    /// (the write timeout then drops it).
    static let maxWindowBlockedBytes = 32 << 20

    /// What reading waits on: bytes queued on the socket, plus the bytes of
    /// each stream that the peer's flow-control windows let out now. Bytes
    /// beyond a window wait on the peer's WINDOW_UPDATE, which only reading
    /// can bring in, so below `maxWindowBlockedBytes` they do not pause
    /// reading (counting them deadlocked any reply over
    /// `maxUnsentOutputBytes` until the write timeout).
    private var readBlockingBytes: Int {
        guard let session else { return socket.queuedBytes }
        let buffered = streams.values.reduce(0) { $0 + $1.unsentBytes }
        if buffered > Self.maxWindowBlockedBytes { return socket.queuedBytes + buffered }
        let connectionWindow = max(0, Int(nghttp2_session_get_remote_window_size(session)))
        var sendable = 0
        for (streamID, stream) in streams {
            let window = max(0, Int(nghttp2_session_get_stream_remote_window_size(session, streamID)))
            sendable += min(stream.unsentBytes, window)
        }
        return socket.queuedBytes + min(sendable, connectionWindow)
    }

    /// Hands nghttp2's pending output to the socket while the socket has room,
    /// then pauses or resumes reading by how much output is unsent.
    /// Deferred while nghttp2 is calling us (it must not be re-entered).
    func flush() {
        guard !closed, let session else { return }
        guard busy == 0 else {
            flushDeferred = true
            return
        }
        repeat {
            flushDeferred = false
            if socket.queuedBytes == 0 { lastWriteProgress = .now }
            // nghttp2 hands out one frame at a time (DATA frames of 16 KiB at
            // most). A client gathers them and writes them together, so a
            // flush is one write(2) and one wakeup of the server, not one per
            // frame (an agent streaming logs). A server writes each frame as
            // it comes: a peer that stops reading then fills the socket's
            // buffer with small writes and soon meets the write timeout.
            while !socket.isClosing && socket.queuedBytes + gathered.count < limits.maxUnsentOutputBytes {
                var data: UnsafePointer<UInt8>?
                let length = callingNGHTTP2 { nghttp2_session_mem_send(session, &data) }
                if closed { return }
                if length < 0 { return close() }
                guard length > 0, let data else { break }
                gathered.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
                if gathered.count >= gatherBytes { writeGathered() }
            }
            writeGathered()
        } while flushDeferred && !closed
        if closed { return }
        socketFull = socket.queuedBytes >= limits.maxUnsentOutputBytes
        applyReadBackpressure()
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 && !closing {
            // Done (e.g. after GOAWAY): close once the last bytes are written.
            closing = true
            socket.shutdown { [weak self] _ in self?.close() }
        }
    }

    /// Frames gathered by `flush` for one socket write (loop thread only).
    private var gathered: [UInt8] = []
    /// `flush` writes what it gathered once it holds this much: 256 KiB for
    /// a client, 1 (every frame on its own) for a server.
    private var gatherBytes: Int {
        if case .client = role { return 256 << 10 }
        return 1
    }

    private func writeGathered() {
        guard !gathered.isEmpty else { return }
        // Moved out first: a write that fails at once calls back (and may
        // close) while the bytes are borrowed.
        var frames: [UInt8] = []
        swap(&frames, &gathered)
        _ = frames.withUnsafeBytes { bytes in
            socket.write(bytes) { [weak self] error in self?.wrote(failed: error != nil) }
        }
        if gathered.isEmpty && frames.capacity <= 512 << 10 {
            frames.removeAll(keepingCapacity: true)
            swap(&frames, &gathered)
        }
    }

    private func applyReadBackpressure() {
        guard !closed else { return }
        let unsent = readBlockingBytes
        #if DEBUG
            if let port = peerPort {
                let inbound = streams.values.reduce(0) { $0 + $1.bufferedInboundBytes }
                HTTP2Statistics.record(peerPort: port, unsent: unsent, inbound: inbound)
            }
        #endif
        if !readingPaused && unsent > limits.maxUnsentOutputBytes {
            readingPaused = true
            socket.stopReading()
        } else if readingPaused && unsent <= limits.maxUnsentOutputBytes / 4 {
            readingPaused = false
            do {
                try socket.startReading { [self] event in readEvent(event) }
            } catch {
                close()
            }
        }
    }

    /// One socket write finished: progress, and room for more when flush
    /// stopped on a full socket. A failed write (the peer reset or vanished)
    /// closes the connection at once; reading may be paused, so no read
    /// would report it.
    private func wrote(failed: Bool) {
        guard !failed else { return close() }
        lastWriteProgress = .now
        if (socketFull || readingPaused) && !closed && socket.queuedBytes < limits.maxUnsentOutputBytes / 4 {
            flush()
        }
    }

    // MARK: Liveness

    private func checkTimeouts() {
        guard !closed, let session else { return }
        let now = ContinuousClock.now
        let http2 = limits.http2
        if socket.queuedBytes > 0 && now - lastWriteProgress > .milliseconds(limits.writeTimeoutMillis) {
            return close()  // the peer stopped reading
        }
        if let sent = pingSentAt {
            if now - sent > .milliseconds(http2.pingTimeoutMillis) { return close() }  // the peer is gone
        } else if now - lastReceived > .milliseconds(http2.pingIntervalMillis) {
            pingSentAt = now
            nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
        }
        for stream in Array(streams.values) where !closed { stream.checkTimeouts(now: now) }
        if readingPaused { applyReadBackpressure() }
        flush()
    }

    /// Resets one stream with `code` (CANCEL by default).
    func reset(_ streamID: Int32, code: nghttp2_error_code = NGHTTP2_CANCEL) {
        guard let session, !closed, streamID > 0 else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code.rawValue)
        flush()
    }

    /// Resets `streamID` with NO_ERROR right after this end's last frame on it
    /// is sent (RFC 9113 §8.1: a response may end before the request did).
    func resetAfterFinalFrame(_ streamID: Int32) {
        guard !closed, streams[streamID] != nil else { return }
        resetAfterEnd.insert(streamID)
        flush()
    }

    /// Ends the connection with GOAWAY carrying `code`.
    func terminate(_ code: nghttp2_error_code) {
        guard let session, !closed else { return }
        nghttp2_session_terminate_session(session, code.rawValue)
        flush()
    }

    /// Sends GOAWAY and closes once it is written.
    func shutdown() { terminate(NGHTTP2_NO_ERROR) }

    /// Closes at once: every stream is told, the session deleted, the socket closed.
    func close() {
        guard !closed else { return }
        guard busy == 0 else {
            closeDeferred = true
            return
        }
        closed = true
        idle.close()
        watchdog.close()
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
