import CNGHTTP2
import OrchionLoop

/// One gRPC call on one HTTP/2 stream: checks its headers (method, content
/// type, token, path, deadline), takes its request messages, runs the
/// handler as a task on the loop, and sends the response messages and the
/// `grpc-status` trailers.
///
/// Bounds: headers are counted as they are decoded and the stream is reset
/// once they pass `WireLimits.maxHeaderBytes`. A unary or server-streaming
/// call takes exactly one request message: a byte past it ends the call with
/// INTERNAL and resets the stream. A bidirectional call's messages are
/// acknowledged to the peer's flow-control window only when the handler
/// takes them, so a handler that stops reading stops the peer. The bytes a
/// call holds (partial message, queued messages, a unary request until the
/// call ends) count against its connection's
/// `HTTP2Limits.maxBufferedRequestBytes`, over which the window is held back.
/// A refused call's stream is reset right after its final frame. Response
/// messages wait per stream; `send` suspends while more than
/// `HTTP2Limits.streamSendHighWatermark` bytes wait for the peer's window.
///
/// Timeouts: a request (or a bidirectional call's message) that does not
/// arrive whole within `requestTimeoutMillis`, and response bytes that wait
/// `writeTimeoutMillis` for window, reset the stream.
///
/// Threading: loop thread only.
final class GRPCServerCall: HTTP2StreamHandler {
    private weak var connection: HTTP2Connection?
    private let loop: EventLoop
    private let limits: WireLimits
    private let services: GRPCServices
    private let authenticator: Authenticator
    /// Slows down the answers to refused tokens.
    private let failures: AuthFailureThrottle?
    let streamID: Int32
    private let openedAt = ContinuousClock.now
    private var headers: HeaderFields
    private(set) var headersDone = false
    private var method: GRPCMethod?
    private var context: CallContext?
    /// Unary and server-streaming calls take one request message.
    private var oneRequest = true
    private var reader: MessageReader
    private var request: [UInt8]?
    private var inputEnded = false
    /// When the bytes of an incomplete message began to arrive.
    private var partialSince: ContinuousClock.Instant?
    private var inbound: AsyncThrowingStream<[UInt8], any Error>.Continuation?
    /// DATA bytes received and not yet given back to the peer's window.
    private var held = 0
    /// Framed bytes of messages handed to the handler's stream and not yet taken by it.
    private var queuedFramed = 0
    /// `bufferedInboundBytes` as last reported to the connection's budget.
    private var reported = 0
    private var reportedPartial = false
    private var task: Task<Void, Never>?
    private var deadline: Timer?
    // Response state.
    private let body = OutboundBody()
    private var responseStarted = false
    private var finished = false
    private var finishedAt: ContinuousClock.Instant?
    private var closed = false
    private var writers: [CheckedContinuation<Void, Never>] = []

    init(
        connection: HTTP2Connection, streamID: Int32, services: GRPCServices, authenticator: Authenticator,
        failures: AuthFailureThrottle? = nil
    ) {
        self.failures = failures
        self.connection = connection
        loop = connection.loop
        limits = connection.limits
        self.services = services
        self.authenticator = authenticator
        self.streamID = streamID
        headers = HeaderFields(limit: connection.limits.maxHeaderBytes)
        reader = MessageReader(maxMessageBytes: connection.limits.maxBodyBytes)
        body.onDrained = { [unowned self] in wakeWriters() }
    }

    private var session: OpaquePointer? { connection?.session }

    // MARK: Request

    func header(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        headers.add(name: name, value: value)
    }

    func headersEnded() {
        guard !headersDone else { return }  // client trailers: nothing to do
        headersDone = true
        guard headers.first(":method") == "POST", let type = headers.first("content-type"),
            type.hasPrefix("application/grpc")
        else {
            return reject(status: 415)
        }
        let principal: Principal
        switch authenticator.check(headers.first("authorization")) {
        case .success(let who): principal = who
        case .failure(let failure):
            guard failure.isGuess, let failures else { return finish(failure.rpcError) }
            let delay = failures.failure(from: connection?.peerHost)
            // Held back (the slow-down); the stream is reset unanswered when too many wait.
            if !failures.hold(delay, { [weak self] in self?.finish(failure.rpcError) }) {
                finished = true
                connection?.reset(streamID)
            }
            return
        }
        do throws(RPCError) {
            let path = headers.first(":path") ?? ""
            guard let method = services.methods[path] else {
                throw RPCError(.unimplemented, "unknown method \(path)")
            }
            let isAgent: Bool
            switch principal {
            case .agent, .node: isAgent = true
            case .client: isAgent = false
            }
            guard isAgent == method.forAgents else {
                throw RPCError(
                    .permissionDenied,
                    isAgent
                        ? "the join token and node credentials only serve the agent protocol"
                        : "\(path) needs the agent join token or a node credential")
            }
            var deadline: ContinuousClock.Instant?
            if let timeout = headers.first("grpc-timeout") {
                guard let millis = GRPCFraming.timeoutMillis(timeout) else {
                    throw RPCError(.invalidArgument, "malformed grpc-timeout '\(timeout)'")
                }
                deadline = .now + .milliseconds(Int64(clamping: millis))
                startDeadline(millis)
            }
            self.method = method
            context = CallContext(
                principal: principal, deadline: deadline,
                stillAuthorized: authenticator.stillAuthorizes(headers.first("authorization"), as: principal))
            if case .bidirectional = method.shape {
                oneRequest = false
                start()
            }
        } catch {
            finish(error)
        }
    }

    private func startDeadline(_ millis: UInt64) {
        guard let timer = try? Timer(loop: loop) else { return }
        deadline = timer
        timer.start(after: millis) { [self] in
            task?.cancel()
            finish(RPCError(.deadlineExceeded, "deadline of \(millis) ms exceeded"))
        }
    }

    func data(_ bytes: UnsafeRawBufferPointer) {
        guard method != nil, !finished, !closed else {
            connection?.consume(streamID, bytes.count)  // dropped, so given back at once
            return
        }
        held += bytes.count
        do throws(RPCError) {
            if oneRequest {
                guard request == nil else { throw Self.secondMessage }
                let messages = try reader.append(bytes)
                guard messages.count <= 1, messages.isEmpty || !reader.hasPartialMessage else {
                    throw Self.secondMessage
                }
                request = messages.first
            } else {
                for message in try reader.append(bytes) {
                    queuedFramed += message.count + 5
                    inbound?.yield(message)
                }
            }
            partialSince = reader.hasPartialMessage ? (partialSince ?? .now) : nil
            reportBuffered()
            giveBackWindow()
        } catch {
            refuse(error)
        }
    }

    private static let secondMessage = RPCError(
        .internal, "a unary or server-streaming call takes exactly one request message; a second one arrived")

    /// Tells the connection's request budget how many bytes this call holds now.
    private func reportBuffered() {
        let now = closed ? 0 : bufferedInboundBytes
        let partial = !closed && !finished && reader.hasPartialMessage
        guard now != reported || partial != reportedPartial else { return }
        connection?.requestBytesBuffered(streamID, from: reported, to: now, partial: partial)
        reported = now
        reportedPartial = partial
    }

    /// Gives the peer back the window of every held byte that is not part of
    /// a message still waiting for the handler.
    private func giveBackWindow() {
        let excess = held - queuedFramed
        guard excess > 0 else { return }
        held -= excess
        connection?.consume(streamID, excess)
    }

    /// The handler took one message of `framedBytes` (length prefix included).
    private func taken(_ framedBytes: Int) {
        queuedFramed = max(0, queuedFramed - framedBytes)
        guard !closed else { return }
        reportBuffered()
        giveBackWindow()
    }

    func endOfInput() {
        inputEnded = true
        guard method != nil, !finished else { return }
        if reader.hasPartialMessage {
            return refuse(RPCError(.internal, "the request ended inside a message"))
        }
        if let inbound { return inbound.finish() }
        guard request != nil else {
            return finish(
                RPCError(.internal, "expected one request message for \(headers.first(":path") ?? ""), found none"))
        }
        start()
    }

    private func start() {
        guard let method, let context, task == nil, !finished else { return }
        // Authenticated at HEADERS; the call runs when its message has come,
        // which a peer may delay: check again now, so a token revoked in
        // between is refused (found by attack: a revoked admin token
        // created a new one through a call whose body came later).
        if !method.forAgents, (try? authenticator.authenticate(headers.first("authorization"))) != context.principal {
            return finish(RPCError(.unauthenticated, "the token was revoked or has expired"))
        }
        let call = LoopBound(self, loop: loop)
        let out = ResponseStream<[UInt8]> { try await call.wrapped.send($0) }
        let request = self.request ?? []
        let run: @Sendable () async throws -> Void
        switch method.shape {
        case .unary(let handler):
            run = { try await call.wrapped.send(try await handler(request, context)) }
        case .serverStreaming(let handler):
            run = { try await handler(request, context, out) }
        case .bidirectional(let handler):
            let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            inbound = continuation
            let loop = self.loop
            let incoming = RequestStream(raw: stream) { framed in loop.execute { call.wrapped.taken(framed) } }
            run = { try await handler(incoming, context, out) }
        }
        task = Task(executorPreference: loop) {
            do {
                try await run()
                call.wrapped.finish(nil)
            } catch {
                call.wrapped.finish(RPCError.from(error))
            }
        }
    }

    // MARK: Response

    private func responseHeaders(_ extra: [(String, String)] = []) -> [(String, String)] {
        [(":status", "200"), ("content-type", "application/grpc")] + extra
    }

    private func trailers(_ error: RPCError?) -> [(String, String)] {
        guard let error else { return [("grpc-status", "0")] }
        return [
            ("grpc-status", String(error.code.rawValue)), ("grpc-message", GRPCFraming.encodeMessage(error.message)),
        ]
    }

    /// Queues one response message; suspends while the peer is slow.
    func send(_ message: [UInt8]) async throws {
        guard !closed, !finished, let connection else { throw CancellationError() }
        guard let framed = GRPCFraming.frame(message) else {
            throw RPCError(.resourceExhausted, "a response message of \(message.count) bytes cannot be framed")
        }
        body.append(framed)
        startResponse()
        connection.flush()
        if body.queued > limits.http2.streamSendHighWatermark && !closed {
            await withCheckedContinuation { writers.append($0) }
            if closed { throw CancellationError() }
        }
    }

    var unsentBytes: Int { body.queued }

    var bufferedInboundBytes: Int { reader.bufferedBytes + queuedFramed + (request?.count ?? 0) }

    /// Submits the response headers with `body` on first use; later, wakes the body.
    private func startResponse() {
        guard let session else { return }
        guard !responseStarted else {
            nghttp2_session_resume_data(session, streamID)
            return
        }
        responseStarted = true
        var provider = body.provider
        _ = withHeaders(responseHeaders()) { nghttp2_submit_response(session, streamID, $0, $1, &provider) }
    }

    private func wakeWriters() {
        let waiting = writers
        writers = []
        for writer in waiting { writer.resume() }
    }

    /// Ends the call with `error` (nil: OK), once.
    func finish(_ error: RPCError?) {
        guard !finished, !closed, let session else { return }
        finished = true
        finishedAt = .now
        deadline?.close()
        deadline = nil
        request = nil  // the handler is done with it
        reportBuffered()
        if responseStarted {
            body.trailers = trailers(error)
            body.end()
            nghttp2_session_resume_data(session, streamID)
        } else {
            _ = withHeaders(responseHeaders(trailers(error))) {
                nghttp2_submit_response(session, streamID, $0, $1, nil)
            }
        }
        connection?.flush()
    }

    /// The peer broke the call's rules: the call ends with `error` and the
    /// stream is reset, so nothing more of it is buffered.
    private func refuse(_ error: RPCError) {
        task?.cancel()
        inbound?.finish(throwing: error)
        inbound = nil
        // Registered before the final frame is submitted: outside nghttp2's
        // callbacks `finish` sends it at once, and the reset must follow it.
        if !inputEnded { connection?.resetAfterFinalFrame(streamID) }
        finish(error)
    }

    /// A non-gRPC request: a bare HTTP status.
    private func reject(status: Int) {
        guard let session else { return }
        finished = true
        finishedAt = .now
        _ = withHeaders([(":status", String(status))]) { nghttp2_submit_response(session, streamID, $0, $1, nil) }
        connection?.flush()
    }

    func checkTimeouts(now: ContinuousClock.Instant) {
        guard !closed, let connection else { return }
        let requestTimeout = Duration.milliseconds(limits.requestTimeoutMillis)
        guard headersDone else {
            // Still inside a header block: HPACK state is shared, so only the connection can end it.
            if now - openedAt > requestTimeout { connection.terminate(NGHTTP2_PROTOCOL_ERROR) }
            return
        }
        if !finished && method != nil {
            let waitingSince = oneRequest && !inputEnded ? openedAt : partialSince
            if let waitingSince, now - waitingSince > requestTimeout {
                return refuse(
                    RPCError(
                        .deadlineExceeded,
                        "the request did not arrive whole within \(limits.requestTimeoutMillis) ms"))
            }
        }
        if body.queued > 0 && now - body.lastProgress > .milliseconds(limits.writeTimeoutMillis) {
            // The peer gives no window: the stream is dropped, nothing more can reach it.
            task?.cancel()
            finished = true
            return connection.reset(streamID)
        }
        if finished, let finishedAt, body.queued == 0, now - finishedAt > requestTimeout {
            connection.reset(streamID, code: NGHTTP2_NO_ERROR)  // done, but the peer never ended its side
        }
    }

    /// The stream is gone (completed, reset by either end, or the connection closed).
    func streamClosed() {
        closed = true
        deadline?.close()
        deadline = nil
        if !finished { task?.cancel() }
        inbound?.finish(throwing: CancellationError())
        inbound = nil
        wakeWriters()
        reportBuffered()
        // Held bytes still count against the connection's window; give them back.
        let remaining = held
        held = 0
        connection?.consume(streamID, remaining)
    }
}
