import CNGHTTP2
import OrchionLoop

/// One gRPC call on one HTTP/2 stream: checks its headers (method, content
/// type, token, path, deadline), collects or streams its request messages,
/// runs the handler as a task on the loop, and sends the response messages
/// and the `grpc-status` trailers. Response messages are buffered per
/// stream; a streaming handler's `send` suspends while more than
/// `highWatermark` bytes wait for the peer's flow-control window.
///
/// Threading: loop thread only.
final class GRPCServerCall: HTTP2StreamHandler {
    private unowned let connection: HTTP2Connection
    private let services: GRPCServices
    private let authenticator: Authenticator
    let streamID: Int32
    private var headers: [(String, String)] = []
    private var headerBytes = 0
    private(set) var headersDone = false
    private var method: GRPCMethod?
    private var context: CallContext?
    private var reader: MessageReader
    private var requests: [[UInt8]] = []
    private var inbound: AsyncThrowingStream<[UInt8], any Error>.Continuation?
    private var task: Task<Void, Never>?
    private var deadline: Timer?
    // Response state.
    private let body = OutboundBody()
    private var responseStarted = false
    private var finished = false
    private var closed = false
    private var writer: CheckedContinuation<Void, Never>?
    private let highWatermark = 256 << 10

    init(connection: HTTP2Connection, streamID: Int32, services: GRPCServices, authenticator: Authenticator) {
        self.connection = connection
        self.services = services
        self.authenticator = authenticator
        self.streamID = streamID
        reader = MessageReader(maxMessageBytes: connection.limits.maxBodyBytes)
        body.onDrained = { [unowned self] in wakeWriter() }
    }

    private var session: OpaquePointer? { connection.session }

    // MARK: Request

    func header(_ name: String, _ value: String) {
        headerBytes += name.utf8.count + value.utf8.count
        if headerBytes <= connection.limits.maxHeaderBytes { headers.append((name, value)) }
    }

    private func value(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }

    func headersEnded() {
        guard !headersDone else { return }  // client trailers: nothing to do
        headersDone = true
        guard value(":method") == "POST", let type = value("content-type"), type.hasPrefix("application/grpc") else {
            return reject(status: 415)
        }
        do throws(RPCError) {
            guard headerBytes <= connection.limits.maxHeaderBytes else {
                throw RPCError(.resourceExhausted, "headers exceed \(connection.limits.maxHeaderBytes) bytes")
            }
            let principal = try authenticator.authenticate(value("authorization"))
            let path = value(":path") ?? ""
            guard let method = services.methods[path] else {
                throw RPCError(.unimplemented, "unknown method \(path)")
            }
            let isAgent = principal == .agent
            guard isAgent == method.forAgents else {
                throw RPCError(
                    .permissionDenied,
                    isAgent ? "the join token only serves the agent protocol" : "\(path) needs the agent join token")
            }
            var deadline: ContinuousClock.Instant?
            if let timeout = value("grpc-timeout") {
                guard let millis = GRPCFraming.timeoutMillis(timeout) else {
                    throw RPCError(.invalidArgument, "malformed grpc-timeout '\(timeout)'")
                }
                deadline = .now + .milliseconds(Int64(millis))
                startDeadline(millis)
            }
            self.method = method
            context = CallContext(principal: principal, deadline: deadline)
            if case .bidirectional = method.shape { start() }
        } catch {
            finish(error)
        }
    }

    private func startDeadline(_ millis: UInt64) {
        guard let timer = try? Timer(loop: connection.loop) else { return }
        deadline = timer
        timer.start(after: millis) { [self] in
            task?.cancel()
            finish(RPCError(.deadlineExceeded, "deadline of \(millis) ms exceeded"))
        }
    }

    func data(_ bytes: UnsafeRawBufferPointer) {
        guard method != nil, !finished else { return }
        do throws(RPCError) {
            let messages = try reader.append(bytes)
            if let inbound {
                for message in messages { inbound.yield(message) }
            } else {
                requests += messages
            }
        } catch {
            task?.cancel()
            inbound?.finish(throwing: error)
            finish(error)
        }
    }

    func endOfInput() {
        guard method != nil, !finished else { return }
        if reader.hasPartialMessage {
            task?.cancel()
            inbound?.finish(throwing: CancellationError())
            return finish(RPCError(.internal, "the request ended inside a message"))
        }
        if let inbound { return inbound.finish() }
        guard requests.count == 1 else {
            return finish(
                RPCError(
                    .unimplemented,
                    "expected exactly one request message for \(value(":path") ?? ""), found \(requests.count)"))
        }
        start()
    }

    private func start() {
        guard let method, let context, task == nil else { return }
        let call = LoopBound(self, loop: connection.loop)
        let out = ResponseStream<[UInt8]> { try await call.wrapped.send($0) }
        let request = requests.first ?? []
        var incoming: RequestStream<[UInt8]>?
        if case .bidirectional = method.shape {
            let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            inbound = continuation
            incoming = RequestStream(stream: stream)
        }
        task = Task(executorPreference: connection.loop) {
            do {
                switch method.shape {
                case .unary(let handler):
                    try await call.wrapped.send(try await handler(request, context))
                case .serverStreaming(let handler):
                    try await handler(request, context, out)
                case .bidirectional(let handler):
                    try await handler(incoming!, context, out)
                }
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
        if closed || finished { throw CancellationError() }
        body.append(GRPCFraming.frame(message))
        startResponse()
        connection.flush()
        if body.queued > highWatermark {
            await withCheckedContinuation { writer = $0 }
            if closed { throw CancellationError() }
        }
    }

    /// Submits the response headers with `body` on first use; later, wakes the body.
    private func startResponse() {
        guard !responseStarted else {
            nghttp2_session_resume_data(session, streamID)
            return
        }
        responseStarted = true
        var provider = body.provider
        _ = withHeaders(responseHeaders()) { nghttp2_submit_response(session, streamID, $0, $1, &provider) }
    }

    private func wakeWriter() {
        let waiting = writer
        writer = nil
        waiting?.resume()
    }

    /// Ends the call with `error` (nil: OK), once.
    func finish(_ error: RPCError?) {
        guard !finished, !closed else { return }
        finished = true
        deadline?.close()
        deadline = nil
        if responseStarted {
            body.trailers = trailers(error)
            body.end()
            nghttp2_session_resume_data(session, streamID)
        } else {
            _ = withHeaders(responseHeaders(trailers(error))) {
                nghttp2_submit_response(session, streamID, $0, $1, nil)
            }
        }
        connection.flush()
    }

    /// A non-gRPC request: a bare HTTP status.
    private func reject(status: Int) {
        finished = true
        _ = withHeaders([(":status", String(status))]) { nghttp2_submit_response(session, streamID, $0, $1, nil) }
        connection.flush()
    }

    /// The stream is gone (completed, reset by the peer, or the connection closed).
    func streamClosed() {
        closed = true
        deadline?.close()
        deadline = nil
        if !finished { task?.cancel() }
        inbound?.finish(throwing: CancellationError())
        wakeWriter()
    }
}
