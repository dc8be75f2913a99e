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
final class GRPCServerCall {
    private unowned let connection: HTTP2ServerConnection
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
    private var responseStarted = false
    private var pending: [UInt8] = []
    private var sent = 0
    private var status: RPCError?
    private var finished = false
    private var closed = false
    private var writer: CheckedContinuation<Void, Never>?
    private let highWatermark = 256 << 10

    init(connection: HTTP2ServerConnection, streamID: Int32) {
        self.connection = connection
        self.streamID = streamID
        reader = MessageReader(maxMessageBytes: connection.limits.maxBodyBytes)
    }

    private var session: OpaquePointer? { connection.session }

    // MARK: Request

    func header(_ name: String, _ value: String) {
        headerBytes += name.utf8.count + value.utf8.count
        if headerBytes <= connection.limits.maxHeaderBytes { headers.append((name, value)) }
    }

    private func value(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }

    func headersComplete() {
        headersDone = true
        guard value(":method") == "POST", let type = value("content-type"), type.hasPrefix("application/grpc") else {
            return reject(status: 415)
        }
        do throws(RPCError) {
            guard headerBytes <= connection.limits.maxHeaderBytes else {
                throw RPCError(.resourceExhausted, "headers exceed \(connection.limits.maxHeaderBytes) bytes")
            }
            let principal = try connection.authenticator.authenticate(value("authorization"))
            let path = value(":path") ?? ""
            guard let method = connection.services.methods[path] else {
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
        guard let method, !finished else { return }
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
        _ = method
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
        pending += GRPCFraming.frame(message)
        if !responseStarted {
            responseStarted = true
            var provider = nghttp2_data_provider()
            provider.source.ptr = Unmanaged.passUnretained(self).toOpaque()
            provider.read_callback = { _, _, buffer, length, flags, source, _ in
                Unmanaged<GRPCServerCall>.fromOpaque(source!.pointee.ptr).takeUnretainedValue()
                    .read(into: buffer!, length, flags!)
            }
            _ = withHeaders(responseHeaders()) { nghttp2_submit_response(session, streamID, $0, $1, &provider) }
        } else {
            nghttp2_session_resume_data(session, streamID)
        }
        connection.flush()
        if pending.count - sent > highWatermark {
            await withCheckedContinuation { writer = $0 }
            if closed { throw CancellationError() }
        }
    }

    /// nghttp2 pulls response bytes; EOF plus trailers once everything is out.
    private func read(into buffer: UnsafeMutablePointer<UInt8>, _ length: Int, _ flags: UnsafeMutablePointer<UInt32>)
        -> Int
    {
        let count = min(length, pending.count - sent)
        pending.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + sent, byteCount: count)
        }
        sent += count
        if sent == pending.count {
            pending.removeAll(keepingCapacity: true)
            sent = 0
            wakeWriter()
            if finished {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                _ = withHeaders(trailers(status)) { nghttp2_submit_trailer(session, streamID, $0, $1) }
            }
        }
        return count == 0 && !finished ? Int(NGHTTP2_ERR_DEFERRED.rawValue) : count
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
        status = error
        deadline?.close()
        deadline = nil
        if responseStarted {
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
