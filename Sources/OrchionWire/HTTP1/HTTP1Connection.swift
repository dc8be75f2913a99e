import CHTTPParser
import OrchionLoop

/// Answers one HTTP/1.1 request: exactly one `send`, or `startEventStream`.
public typealias HTTPHandler = (HTTPRequest, HTTPResponder) -> Void

/// Serves HTTP/1.1 on one connection with http-parser: keep-alive,
/// pipelining (answered in order), chunked request bodies, size limits (431,
/// 413), a request timeout (408) and an idle timeout, and Server-Sent Events.
/// Malformed input gets a 400 and the connection is closed; nothing else is
/// affected. What RFC 9112 says a server MUST refuse is refused with a 400:
/// whitespace or other non-token bytes in a field name, obsolete line
/// folding, conflicting or repeated Content-Length, Transfer-Encoding with
/// Content-Length, and an HTTP/1.1 request without exactly one Host. Also
/// refused: a folded line whatever the line before held, a repeated
/// Authorization or Transfer-Encoding (400), Transfer-Encoding other than
/// exactly `chunked`, CONNECT and Upgrade (501), and versions other than
/// 1.0 and 1.1 (505).
///
/// The optional head check runs at the end of each head, before any body
/// byte is read: its answer is sent in turn with `Connection: close`, the
/// body is dropped unbuffered and nothing after it is parsed. `Expect:
/// 100-continue` gets its 100 once the head passed (when no earlier answer
/// is still due); another expectation gets 417.
///
/// Bounded: while more than `maxUnsentOutputBytes` (or the lower
/// `outputBound` given, the owner's share of a server-wide total) of answers
/// wait for the peer to read them, the connection neither reads nor
/// answers; it resumes below a quarter of that. Output that makes no progress for
/// `writeTimeoutMillis` drops the connection. A vanished peer costs nothing:
/// writes to it fail quietly and the connection closes.
///
/// Threading: loop thread only. The connection keeps itself alive until its
/// socket is closed.
final class HTTP1Connection {
    private let stream: any ByteStream
    private let limits: WireLimits
    private let handler: HTTPHandler
    private let headCheck: HTTPHeadCheck?
    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
    private let timer: Timer
    /// Slows down the answers to refused tokens (`HTTPHeadVerdict.refuse`).
    private let failures: AuthFailureThrottle?
    /// Runs while output is queued: drops the peer if none of it moves.
    private let writeTimer: Timer
    private var writeTimerArmed = false
    private var sentAtLastCheck = 0
    // The request being parsed.
    private var url: [UInt8] = []
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var headers: [(name: String, value: String)] = []
    private var body: [UInt8] = []
    private var headerBytes = 0
    private var rejection: (status: Int, message: String)?
    // Method and target, made once at the end of the head.
    private var method = ""
    private var target = ""
    /// The head check answered this request: its body is read and
    /// dropped, and nothing after it is parsed.
    private var discarding = false
    /// Whether the bytes before this read ended a line (a line break then
    /// only SP/HTAB): a value that starts a read right after it is folded.
    private var previousFeedEndedLine = false
    /// Where the last header-value callback ended, to tell a value split
    /// across reads from an obsolete line fold.
    private var lastPart: HeaderPart?
    private var lastEnd: UnsafeRawPointer?
    private var feedStart: UnsafeRawPointer?
    private var previousFeedEnded = false
    // Requests parsed and waiting for their turn, and the one being answered.
    private var queue: [HTTPRequest] = []
    private var active: HTTPResponder?
    private var reading = false
    private var outputBlocked = false
    private var peerFinished = false
    private var closed = false
    /// The active SSE responder's "writable again" callback.
    private var responderWritable: (() -> Void)?

    init(
        stream: any ByteStream, limits: WireLimits, handler: @escaping HTTPHandler, headCheck: HTTPHeadCheck? = nil,
        outputBound: Int? = nil, failures: AuthFailureThrottle? = nil, initialBytes: [UInt8]
    ) throws(LoopError) {
        self.failures = failures
        self.stream = stream
        self.limits = limits
        self.handler = handler
        self.headCheck = headCheck
        timer = try Timer(loop: stream.loop)
        do {
            writeTimer = try Timer(loop: stream.loop)
        } catch {
            timer.close()
            throw error
        }
        http_parser_init(parser, HTTP_REQUEST)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let bound = max(min(outputBound ?? limits.maxUnsentOutputBytes, limits.maxUnsentOutputBytes), 1)
        stream.highWatermark = bound
        stream.lowWatermark = max(bound / 4, 1)
        stream.onWritable = { [self] in writable() }
        timer.start(after: limits.idleTimeoutMillis) { [self] in timedOut() }
        do {
            try startReading()
        } catch {
            close()
            throw error
        }
        initialBytes.withUnsafeBytes { feed($0) }
    }

    deinit { parser.deallocate() }

    private func startReading() throws(LoopError) {
        reading = true
        try stream.startReading { [self] event in
            switch event {
            case .data(let bytes): feed(bytes)
            case .eof: peerClosed()
            case .error: close()
            }
        }
    }

    /// Reads only while there is room: the pipeline queue is not full (in
    /// requests, and in body bytes: at most one maximal body waits) and the
    /// peer is taking its answers.
    private func updateReading() {
        // Nothing queued behind a stream is answered before the stream ends:
        // a full pipeline behind one would stop reading, and with it the
        // sight of the peer leaving (found by attack: the stream and its
        // connection were held until an event came). Such a peer is cut off.
        if let active, active.isEventStream || active.streams, queue.count >= limits.maxPipelinedRequests {
            active.cancel()
            return close()
        }
        let queuedBodies = queue.reduce(0) { $0 + $1.body.count }
        let wanted =
            !closed && !peerFinished && !outputBlocked && queue.count < limits.maxPipelinedRequests
            && queuedBodies < limits.maxBodyBytes
        if wanted && !reading {
            do { try startReading() } catch { close() }
        } else if !wanted && reading {
            reading = false
            stream.stopReading()
        }
    }

    /// The peer has read the backlog down: read and answer again.
    private func writable() {
        outputBlocked = false
        responderWritable?()
        guard !closed else { return }
        updateReading()
        dispatch()
    }

    private func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !closed, !discarding, !bytes.isEmpty, let base = bytes.baseAddress else { return }
        feedStart = base
        lastEnd = nil
        // A handler may close the connection while the parser runs: keep
        // this object alive until the parser returns.
        let consumed = withExtendedLifetime(self) {
            bytes.withMemoryRebound(to: CChar.self) { chars in
                http_parser_execute(parser, &HTTPParserCallbacks.shared.settings, chars.baseAddress, chars.count)
            }
        }
        previousFeedEnded = lastEnd == base + bytes.count
        if let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 }) {
            previousFeedEndedLine = bytes[last] == 0x0A
        }
        guard !discarding else { return }
        let errno = orchion_http_errno(parser)
        if errno != HPE_OK.rawValue || consumed != bytes.count {
            let (status, message) =
                rejection
                ?? (errno == HPE_OK.rawValue && parser.pointee.upgrade != 0
                    ? (501, "protocol upgrade is not supported: use HTTP/2 with prior knowledge for gRPC")
                    : (400, "malformed HTTP request: \(Self.describe(errno))"))
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
        let code =
            switch status {
            case 408: "DEADLINE_EXCEEDED"
            case 400, 417: "INVALID_ARGUMENT"
            case 501, 505: "UNIMPLEMENTED"
            default: "RESOURCE_EXHAUSTED"
            }
        active?.cancel()
        active = nil
        queue.removeAll()
        _ = send(RPCError.json(code: code, message: message, status: status).serialized(keepAlive: false))
        closeAfterWrites()
    }

    /// Queues bytes, watching the output: false once over the bound.
    private func send(_ bytes: [UInt8]) -> Bool {
        guard !closed || !stream.isClosing else { return false }
        let more = stream.write(bytes)
        if !more {
            outputBlocked = true
            updateReading()
        }
        if stream.queuedBytes > 0 && !writeTimerArmed {
            writeTimerArmed = true
            sentAtLastCheck = stream.sentBytes
            writeTimer.start(after: limits.writeTimeoutMillis, repeat: limits.writeTimeoutMillis) { [self] in
                checkWriteProgress()
            }
        }
        return more
    }

    /// Drops the peer when none of the queued output moved for a whole period.
    private func checkWriteProgress() {
        if stream.queuedBytes == 0 {
            writeTimerArmed = false
            writeTimer.stop()
        } else if stream.sentBytes > sentAtLastCheck {
            sentAtLastCheck = stream.sentBytes
        } else {
            close(abruptly: true)
        }
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
        updateReading()
        if let active, active.isEventStream || active.streams {
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
        lastPart = nil
        if discarding { return -1 }
        timer.start(after: limits.requestTimeoutMillis) { [self] in timedOut() }
        return 0
    }

    fileprivate func headerData(_ bytes: UnsafeRawBufferPointer, into part: HeaderPart) -> Int32 {
        headerBytes += bytes.count
        guard headerBytes <= limits.maxHeaderBytes else {
            rejection = (431, "request headers exceed \(limits.maxHeaderBytes) bytes")
            return -1
        }
        let start = bytes.baseAddress
        let previous = lastPart
        // Did this callback pick up exactly where the previous one stopped
        // (same read, or the previous read ended inside this part)?
        let continues = start == lastEnd || (start == feedStart && previousFeedEnded)
        lastPart = part
        lastEnd = start.map { $0 + bytes.count }
        switch part {
        case .url: url += bytes
        case .field:
            // A new name after a value, or after a name whose value was empty.
            if previous == .value || (previous == .field && !continues) {
                guard finishHeader() else { return -1 }
            }
            field += bytes
        case .value:
            // http-parser reports a folded line as another value callback
            // that skipped the line break.
            if previous == .value && !continues || Self.startsContinuationLine(bytes, feedStart, previousFeedEndedLine)
            {
                rejection = (400, "obsolete line folding in header \(Self.printable(field)) (RFC 9112 §5.2)")
                return -1
            }
            value += bytes
        }
        return 0
    }

    /// Whether a value's first byte follows a line break and only SP/HTAB:
    /// it is on a line of its own that starts with whitespace (an obsolete
    /// fold, whatever the line before held). Looks back in this read, and
    /// at how the previous read ended when the whitespace reaches its start.
    private static func startsContinuationLine(
        _ bytes: UnsafeRawBufferPointer, _ readStart: UnsafeRawPointer?, _ previousEndedLine: Bool
    ) -> Bool {
        guard let start = bytes.baseAddress, let readStart, start >= readStart else { return false }
        var at = start
        while at > readStart {
            at -= 1
            let byte = at.load(as: UInt8.self)
            if byte == 0x20 || byte == 0x09 { continue }
            return byte == 0x0A && at + 1 != start
        }
        return previousEndedLine
    }

    /// Records the header just read; false (with a rejection) if its name is not a token.
    private func finishHeader() -> Bool {
        defer {
            field.removeAll(keepingCapacity: true)
            value.removeAll(keepingCapacity: true)
        }
        guard !field.isEmpty else { return true }
        guard field.allSatisfy(Self.isTokenByte) else {
            rejection = (
                400,
                "invalid header name \(Self.printable(field)): expected token characters and no whitespace before ':'"
            )
            return false
        }
        headers.append((String(decoding: field, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        return true
    }

    /// RFC 9110 tchar.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Bytes quoted for an error message, non-printable ones as \xNN.
    private static func printable(_ bytes: [UInt8]) -> String {
        "'"
            + bytes.prefix(64).map {
                $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16)
            }
            .joined() + "'"
    }

    fileprivate func headersComplete() -> Int32 {
        if !field.isEmpty || !value.isEmpty {
            guard finishHeader() else { return -1 }
        }
        lastPart = nil
        let major = parser.pointee.http_major
        let minor = parser.pointee.http_minor
        guard major == 1 && minor <= 1 else {
            rejection = (505, "HTTP version \(major).\(minor) not supported: expected HTTP/1.1 or HTTP/1.0")
            return -1
        }
        method = Self.methodName(orchion_http_method(parser))
        guard method != "CONNECT" else {
            rejection = (501, "method CONNECT is not supported: this server is not a proxy")
            return -1
        }
        guard checkFields(http11: minor == 1) else { return -1 }
        let length = parser.pointee.content_length
        if length != UInt64.max && length > UInt64(clamping: limits.maxBodyBytes) {
            rejection = (413, "request body of \(length) bytes exceeds \(limits.maxBodyBytes)")
            return -1
        }
        target = String(decoding: url, as: UTF8.self)
        var expectContinue = false
        if minor == 1, let expect = headers.first(where: { asciiCaseInsensitiveEqual($0.name, "Expect") })?.value {
            guard asciiCaseInsensitiveEqual(expect, "100-continue") else {
                answerEarly(
                    RPCError.json(
                        code: "INVALID_ARGUMENT",
                        message: "unsupported expectation \(Self.printable(Array(expect.utf8))): expected 100-continue",
                        status: 417))
                return 0
            }
            expectContinue = true
        }
        if let headCheck {
            switch headCheck(method, target, headers) {
            case .proceed: break
            case .answer(let response):
                answerEarly(response)
                return 0
            case .refuse(let response):
                answerEarly(response, delayMillis: failures?.failure(from: stream.peerAddress?.host) ?? 0)
                return 0
            }
        }
        // RFC 9110 §10.1.1: the head is accepted, ask for the body. Only
        // when no earlier answer is due, which must come first.
        if expectContinue && active == nil && queue.isEmpty && length != 0 {
            _ = send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        return 0
    }

    /// The checks on header fields that RFC 9112 asks of a server: one Host
    /// in HTTP/1.1, Transfer-Encoding exactly `chunked` and never repeated,
    /// no protocol upgrade, one Authorization. False with a rejection.
    private func checkFields(http11: Bool) -> Bool {
        var hosts = 0
        var authorizations = 0
        var encodings = 0
        for (name, value) in headers {
            if asciiCaseInsensitiveEqual(name, "Host") {
                hosts += 1
            } else if asciiCaseInsensitiveEqual(name, "Authorization") {
                authorizations += 1
            } else if asciiCaseInsensitiveEqual(name, "Transfer-Encoding") {
                encodings += 1
                guard asciiCaseInsensitiveEqual(value, "chunked") else {
                    rejection = (
                        501,
                        "Transfer-Encoding \(Self.printable(Array(value.utf8))) not supported: expected exactly 'chunked' (RFC 9112 §6.1)"
                    )
                    return false
                }
            } else if asciiCaseInsensitiveEqual(name, "Upgrade") {
                rejection = (
                    501,
                    "protocol upgrade to \(Self.printable(Array(value.utf8))) is not supported: use HTTP/2 with prior knowledge for gRPC"
                )
                return false
            }
        }
        if http11 && hosts != 1 {
            rejection = (400, "expected one Host header in an HTTP/1.1 request, found \(hosts) (RFC 9112 §3.2)")
            return false
        }
        if authorizations > 1 {
            rejection = (400, "expected at most one Authorization header, found \(authorizations)")
            return false
        }
        if encodings > 1 {
            rejection = (400, "expected at most one Transfer-Encoding header, found \(encodings)")
            return false
        }
        return true
    }

    /// Queues `response` as this request's answer (in turn, then close) and
    /// drops the rest of the input unread by the parser: its body is never buffered.
    private func answerEarly(_ response: HTTPResponse, delayMillis: UInt64 = 0) {
        var request = HTTPRequest(method: method, target: target, headers: [], body: [], keepAlive: false)
        request.earlyAnswer = response
        request.earlyAnswerDelayMillis = delayMillis
        queue.append(request)
        discarding = true
        headerBytes = 0
        updateReading()
        dispatch()
    }

    fileprivate func bodyData(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if discarding { return 0 }
        guard body.count + bytes.count <= limits.maxBodyBytes else {
            rejection = (413, "request body exceeds \(limits.maxBodyBytes) bytes")
            return -1
        }
        body += bytes
        return 0
    }

    fileprivate func messageComplete() -> Int32 {
        if discarding { return 0 }
        queue.append(
            HTTPRequest(
                method: method, target: target, headers: headers, body: body,
                keepAlive: http_should_keep_alive(parser) != 0))
        headerBytes = 0
        body.removeAll(keepingCapacity: true)
        updateReading()
        dispatch()
        return 0
    }

    // MARK: Answering

    private func dispatch() {
        guard active == nil, !closed, !outputBlocked, !queue.isEmpty else { return }
        let request = queue.removeFirst()
        timer.stop()
        if let answer = request.earlyAnswer {
            let responder = HTTPResponder(connection: self, keepAlive: false, head: request.method == "HEAD")
            active = responder
            guard request.earlyAnswerDelayMillis > 0, let failures else { return responder.send(answer) }
            // Held back (a refused token's slow-down); dropped unanswered when too many wait.
            if !failures.hold(request.earlyAnswerDelayMillis, { responder.send(answer) }) { close(abruptly: true) }
            return
        }
        let responder = HTTPResponder(
            connection: self, keepAlive: request.keepAlive && !peerFinished, head: request.method == "HEAD")
        active = responder
        handler(request, responder)
    }

    /// Writes bytes for the active responder; returns whether more may be written now.
    fileprivate func write(_ bytes: [UInt8]) -> Bool {
        closed ? false : send(bytes)
    }

    fileprivate func setWritableHandler(_ handler: (() -> Void)?) { responderWritable = handler }

    /// The active responder finished its answer.
    fileprivate func finished(_ responder: HTTPResponder) {
        guard active === responder else { return }
        active = nil
        if !responder.keepAlive || peerFinished && queue.isEmpty {
            closeAfterWrites()
            return
        }
        responderWritable = nil
        timer.start(after: limits.idleTimeoutMillis) { [self] in timedOut() }
        updateReading()
        dispatch()
    }

    /// Closes once queued answers are sent (or the write timeout gives up on them).
    private func closeAfterWrites() {
        guard !closed else { return }
        closed = true
        updateReading()
        timer.stop()
        stream.shutdown { [self] _ in close() }
    }

    /// Closes now; `abruptly` resets the peer and discards unsent output.
    private func close(abruptly: Bool = false) {
        active?.cancel()
        active = nil
        closed = true
        responderWritable = nil
        timer.close()
        writeTimer.close()
        if abruptly { stream.closeAbruptly() } else { stream.close() }
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

    /// The connection a parser belongs to; nil (the callback then fails the
    /// parse) only if http-parser were to pass no parser.
    private static func connection(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTP1Connection? {
        guard let data = parser?.pointee.data else { return nil }
        return Unmanaged<HTTP1Connection>.fromOpaque(data).takeUnretainedValue()
    }

    private static func bytes(_ at: UnsafePointer<CChar>?, _ length: Int) -> UnsafeRawBufferPointer {
        guard let at, length > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: at, count: length)
    }

    private init() {
        settings.on_message_begin = { HTTPParserCallbacks.connection($0)?.messageBegin() ?? -1 }
        settings.on_url = {
            HTTPParserCallbacks.connection($0)?.headerData(HTTPParserCallbacks.bytes($1, $2), into: .url) ?? -1
        }
        settings.on_header_field = {
            HTTPParserCallbacks.connection($0)?.headerData(HTTPParserCallbacks.bytes($1, $2), into: .field) ?? -1
        }
        settings.on_header_value = {
            HTTPParserCallbacks.connection($0)?.headerData(HTTPParserCallbacks.bytes($1, $2), into: .value) ?? -1
        }
        settings.on_headers_complete = { HTTPParserCallbacks.connection($0)?.headersComplete() ?? -1 }
        settings.on_body = {
            HTTPParserCallbacks.connection($0)?.bodyData(HTTPParserCallbacks.bytes($1, $2)) ?? -1
        }
        settings.on_message_complete = { HTTPParserCallbacks.connection($0)?.messageComplete() ?? -1 }
    }
}

/// How a handler answers one request. Exactly one answer per request.
///
/// Threading: loop thread only.
public final class HTTPResponder {
    private weak var connection: HTTP1Connection?
    /// Whether the connection stays open after this answer.
    let keepAlive: Bool
    /// Whether this answers a HEAD request (head only, no body).
    let head: Bool
    private var done = false
    fileprivate var isEventStream = false
    /// Whether the answer is a stream that may wait long before its first
    /// byte (an SSE call not yet started): a peer that closes its side is
    /// then gone, and the call is cancelled instead of waiting for it
    /// (found by attack: a watch left before its first event held its
    /// connection and task until an event came, on a quiet cluster never).
    public var streams = false
    /// Called if the peer goes away before the answer is complete.
    public var onCancel: (() -> Void)?

    fileprivate init(connection: HTTP1Connection, keepAlive: Bool, head: Bool) {
        self.connection = connection
        self.keepAlive = keepAlive
        self.head = head
    }

    /// Sends a complete response (its head only, when answering HEAD).
    public func send(_ response: HTTPResponse) {
        guard !done, let connection else { return }
        done = true
        _ = connection.write(response.serialized(keepAlive: keepAlive, includeBody: !head))
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
