import CHTTPParser
import OrchionLoop

/// Answers one HTTP/1.1 request: exactly one `send`, or `startEventStream`.
public typealias HTTPHandler = (HTTPRequest, HTTPResponder) -> Void

/// Serves HTTP/1.1 on one connection with http-parser: keep-alive,
/// pipelining (answered in order), chunked request bodies, size limits (431,
/// 413), a request timeout (408) and an idle timeout, and Server-Sent Events.
/// Malformed input gets a 400 and the connection is closed; nothing else is
/// affected.
///
/// Threading: loop thread only. The connection keeps itself alive until its
/// socket is closed.
final class HTTP1Connection {
    private let stream: Stream
    private let limits: WireLimits
    private let handler: HTTPHandler
    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
    private let timer: Timer
    // The request being parsed.
    private var url: [UInt8] = []
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var headers: [(name: String, value: String)] = []
    private var body: [UInt8] = []
    private var headerBytes = 0
    private var rejection: (status: Int, message: String)?
    // Requests parsed and waiting for their turn, and the one being answered.
    private var queue: [HTTPRequest] = []
    private var active: HTTPResponder?
    private var readingPaused = false
    private var peerFinished = false
    private var closed = false

    init(stream: Stream, limits: WireLimits, handler: @escaping HTTPHandler, initialBytes: [UInt8]) throws(LoopError) {
        self.stream = stream
        self.limits = limits
        self.handler = handler
        timer = try Timer(loop: stream.loop)
        http_parser_init(parser, HTTP_REQUEST)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        timer.start(after: limits.idleTimeoutMillis) { [self] in timedOut() }
        try startReading()
        initialBytes.withUnsafeBytes { feed($0) }
    }

    deinit { parser.deallocate() }

    private func startReading() throws(LoopError) {
        try stream.startReading { [self] event in
            switch event {
            case .data(let bytes): feed(bytes)
            case .eof: peerClosed()
            case .error: close()
            }
        }
    }

    private func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !closed, !bytes.isEmpty else { return }
        let consumed = bytes.withMemoryRebound(to: CChar.self) { chars in
            http_parser_execute(parser, &HTTPParserCallbacks.shared.settings, chars.baseAddress, chars.count)
        }
        let errno = orchion_http_errno(parser)
        if errno != HPE_OK.rawValue || consumed != bytes.count {
            let (status, message) = rejection ?? (400, "malformed HTTP request: \(Self.describe(errno))")
            fail(status, message)
        }
    }

    /// The method's name, without allocating for the common ones.
    private static func methodName(_ code: UInt32) -> String {
        switch http_method(rawValue: code) {
        case HTTP_GET: "GET"
        case HTTP_POST: "POST"
        case HTTP_PUT: "PUT"
        case HTTP_DELETE: "DELETE"
        case HTTP_HEAD: "HEAD"
        case HTTP_PATCH: "PATCH"
        case HTTP_OPTIONS: "OPTIONS"
        default: String(cString: http_method_str(http_method(rawValue: code)))
        }
    }

    private static func describe(_ errno: UInt32) -> String {
        String(cString: http_errno_description(http_errno(rawValue: errno)))
    }

    /// Answers `status` with a JSON error and closes, whatever was in flight.
    private func fail(_ status: Int, _ message: String) {
        guard !closed else { return }
        let code = status == 408 ? "DEADLINE_EXCEEDED" : status == 400 ? "INVALID_ARGUMENT" : "RESOURCE_EXHAUSTED"
        active?.cancel()
        active = nil
        queue.removeAll()
        stream.write(RPCError.json(code: code, message: message, status: status).serialized(keepAlive: false))
        closeAfterWrites()
    }

    private func timedOut() {
        if active != nil { return }
        if headerBytes > 0 || !body.isEmpty {
            fail(408, "request not received within \(limits.requestTimeoutMillis) ms")
        } else {
            close()
        }
    }

    private func peerClosed() {
        peerFinished = true
        stream.stopReading()
        if let active, active.isEventStream {
            active.cancel()
            close()
        } else if active == nil && queue.isEmpty {
            close()
        }
    }

    // MARK: Parser callbacks

    fileprivate func messageBegin() -> Int32 {
        url.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        body.removeAll(keepingCapacity: true)
        headerBytes = 0
        timer.start(after: limits.requestTimeoutMillis) { [self] in timedOut() }
        return 0
    }

    fileprivate func headerData(_ bytes: UnsafeRawBufferPointer, into part: HeaderPart) -> Int32 {
        headerBytes += bytes.count
        guard headerBytes <= limits.maxHeaderBytes else {
            rejection = (431, "request headers exceed \(limits.maxHeaderBytes) bytes")
            return -1
        }
        switch part {
        case .url: url += bytes
        case .field:
            if !value.isEmpty { finishHeader() }
            field += bytes
        case .value: value += bytes
        }
        return 0
    }

    private func finishHeader() {
        if !field.isEmpty {
            headers.append((String(decoding: field, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
    }

    fileprivate func headersComplete() -> Int32 {
        finishHeader()
        let length = parser.pointee.content_length
        if length != UInt64.max && length > UInt64(limits.maxBodyBytes) {
            rejection = (413, "request body of \(length) bytes exceeds \(limits.maxBodyBytes)")
            return -1
        }
        return 0
    }

    fileprivate func bodyData(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard body.count + bytes.count <= limits.maxBodyBytes else {
            rejection = (413, "request body exceeds \(limits.maxBodyBytes) bytes")
            return -1
        }
        body += bytes
        return 0
    }

    fileprivate func messageComplete() -> Int32 {
        let method = Self.methodName(orchion_http_method(parser))
        queue.append(
            HTTPRequest(
                method: method, target: String(decoding: url, as: UTF8.self), headers: headers, body: body,
                keepAlive: http_should_keep_alive(parser) != 0))
        headerBytes = 0
        body.removeAll(keepingCapacity: true)
        if queue.count >= limits.maxPipelinedRequests {
            readingPaused = true
            stream.stopReading()
        }
        dispatch()
        return 0
    }

    // MARK: Answering

    private func dispatch() {
        guard active == nil, !closed, !queue.isEmpty else { return }
        let request = queue.removeFirst()
        timer.stop()
        let responder = HTTPResponder(connection: self, keepAlive: request.keepAlive && !peerFinished)
        active = responder
        handler(request, responder)
    }

    /// Writes bytes for the active responder; returns whether more may be written now.
    fileprivate func write(_ bytes: [UInt8]) -> Bool {
        closed ? false : stream.write(bytes)
    }

    fileprivate func setWritableHandler(_ handler: (() -> Void)?) { stream.onWritable = handler }

    /// The active responder finished its answer.
    fileprivate func finished(_ responder: HTTPResponder) {
        guard active === responder else { return }
        active = nil
        if !responder.keepAlive || peerFinished && queue.isEmpty {
            closeAfterWrites()
            return
        }
        timer.start(after: limits.idleTimeoutMillis) { [self] in timedOut() }
        if readingPaused && queue.count < limits.maxPipelinedRequests {
            readingPaused = false
            try? startReading()
        }
        dispatch()
    }

    private func closeAfterWrites() {
        guard !closed else { return }
        stream.shutdown { [self] _ in close() }
        closed = true
        timer.stop()
    }

    private func close() {
        active?.cancel()
        active = nil
        closed = true
        timer.close()
        stream.close()
    }
}

/// Which part of the head a data callback carries.
enum HeaderPart {
    case url, field, value
}

/// The one `http_parser_settings` table, shared by every connection.
private final class HTTPParserCallbacks: @unchecked Sendable {
    static let shared = HTTPParserCallbacks()
    var settings = http_parser_settings()

    private static func connection(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTP1Connection {
        Unmanaged<HTTP1Connection>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
    }

    private static func bytes(_ at: UnsafePointer<CChar>?, _ length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: at, count: length)
    }

    private init() {
        settings.on_message_begin = { HTTPParserCallbacks.connection($0).messageBegin() }
        settings.on_url = {
            HTTPParserCallbacks.connection($0).headerData(HTTPParserCallbacks.bytes($1, $2), into: .url)
        }
        settings.on_header_field = {
            HTTPParserCallbacks.connection($0).headerData(HTTPParserCallbacks.bytes($1, $2), into: .field)
        }
        settings.on_header_value = {
            HTTPParserCallbacks.connection($0).headerData(HTTPParserCallbacks.bytes($1, $2), into: .value)
        }
        settings.on_headers_complete = { HTTPParserCallbacks.connection($0).headersComplete() }
        settings.on_body = { HTTPParserCallbacks.connection($0).bodyData(HTTPParserCallbacks.bytes($1, $2)) }
        settings.on_message_complete = { HTTPParserCallbacks.connection($0).messageComplete() }
    }
}

/// How a handler answers one request. Exactly one answer per request.
///
/// Threading: loop thread only.
public final class HTTPResponder {
    private weak var connection: HTTP1Connection?
    /// Whether the connection stays open after this answer.
    let keepAlive: Bool
    private var done = false
    fileprivate var isEventStream = false
    /// Called if the peer goes away before the answer is complete.
    public var onCancel: (() -> Void)?

    fileprivate init(connection: HTTP1Connection, keepAlive: Bool) {
        self.connection = connection
        self.keepAlive = keepAlive
    }

    /// Sends a complete response.
    public func send(_ response: HTTPResponse) {
        guard !done, let connection else { return }
        done = true
        _ = connection.write(response.serialized(keepAlive: keepAlive))
        connection.finished(self)
    }

    /// Starts a `text/event-stream` response; send events through the result.
    public func startEventStream() -> EventStream {
        isEventStream = true
        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        head += "Transfer-Encoding: chunked\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        _ = connection?.write(Array((head + "\r\n").utf8))
        return EventStream(responder: self)
    }

    fileprivate func cancel() {
        guard !done else { return }
        done = true
        let callback = onCancel
        onCancel = nil
        callback?()
    }

    /// Writes a chunk of the event stream; false once the socket's queue is full.
    fileprivate func writeChunk(_ payload: [UInt8]) -> Bool {
        guard !done, let connection else { return false }
        return connection.write(Array((String(payload.count, radix: 16) + "\r\n").utf8) + payload + [13, 10])
    }

    fileprivate func setWritable(_ handler: (() -> Void)?) { connection?.setWritableHandler(handler) }

    fileprivate func finishStream() {
        guard !done, let connection else { return }
        done = true
        _ = connection.write(Array("0\r\n\r\n".utf8))
        connection.setWritableHandler(nil)
        connection.finished(self)
    }
}

/// A Server-Sent Events response in progress.
///
/// Threading: loop thread only.
public final class EventStream {
    private let responder: HTTPResponder

    fileprivate init(responder: HTTPResponder) { self.responder = responder }

    /// Sends one event. Returns false once the socket's queue is full: wait
    /// for `onWritable` before sending more.
    @discardableResult
    public func send(event: String? = nil, id: String? = nil, data: String) -> Bool {
        var text = ""
        if let event { text += "event: \(event)\n" }
        if let id { text += "id: \(id)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        return responder.writeChunk(Array((text + "\n").utf8))
    }

    /// Called when the socket can take more after `send` returned false.
    public var onWritable: (() -> Void)? {
        get { nil }
        set { responder.setWritable(newValue) }
    }

    /// Called if the peer goes away.
    public var onCancel: (() -> Void)? {
        get { responder.onCancel }
        set { responder.onCancel = newValue }
    }

    /// Ends the stream; the connection may carry the next request.
    public func finish() { responder.finishStream() }
}
