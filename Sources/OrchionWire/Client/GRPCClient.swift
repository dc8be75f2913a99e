import OrchionLoop
import SwiftProtobuf

/// A gRPC client over one HTTP/2 connection (prior knowledge, or TLS with ALPN `h2`):
/// what the agent uses to hold its stream to the server, and what tools use
/// for the control API. Usable from any task; the connection itself lives on
/// the loop.
public final class GRPCClient: Sendable {
    private let loop: EventLoop
    private let connection: LoopBound<HTTP2Connection>
    private let authority: String
    private let token: String?

    private init(loop: EventLoop, connection: LoopBound<HTTP2Connection>, authority: String, token: String?) {
        self.loop = loop
        self.connection = connection
        self.authority = authority
        self.token = token
    }

    /// Connects to `address`; `token` is sent as `authorization: Bearer …` on
    /// every call. With `tls`, the connection is TLS (ALPN `h2`) and the
    /// server must prove to be `tls.serverName` under the context's CA (or
    /// pin); a server that does not fails the connect with a `TLSError`
    /// that says why.
    public static func connect(
        loop: EventLoop, to address: SocketAddress, token: String?, limits: WireLimits = WireLimits(),
        tls: GRPCClientTLS? = nil
    ) async throws -> GRPCClient {
        let connection: LoopBound<HTTP2Connection> = try await loop.submitAsync {
            (finish: @escaping (Result<LoopBound<HTTP2Connection>, any Error>) -> Void) in
            func start(_ stream: any ByteStream) {
                do throws(LoopError) {
                    // nghttp2's client session sends the connection preface itself.
                    let connection = try HTTP2Connection(socket: stream, role: .client, limits: limits)
                    finish(.success(LoopBound(connection, loop: loop)))
                } catch {
                    stream.close()
                    finish(.failure(error))
                }
            }
            TCPConnection.connect(loop: loop, to: address) { result in
                switch result {
                case .success(let socket):
                    socket.setNoDelay(true)
                    guard let tls else { return start(socket) }
                    TLSStream.connect(
                        socket, context: tls.context, host: tls.serverName ?? address.host,
                        timeoutMillis: limits.tlsHandshakeTimeoutMillis
                    ) { handshake in
                        switch handshake {
                        case .success(let stream): start(stream)
                        case .failure(let error): finish(.failure(error))
                        }
                    }
                case .failure(let error):
                    finish(.failure(error))
                }
            }
        }.get()
        return GRPCClient(loop: loop, connection: connection, authority: address.description, token: token)
    }

    /// Sends GOAWAY and closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        _ = try? await loop.submit { self.connection.wrapped.shutdown() }
    }

    // MARK: Calls

    /// A unary call.
    public func unary<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ path: String, _ request: Request, timeoutMillis: UInt64? = nil
    ) async throws -> Reply {
        var reply: Reply?
        for try await message in serverStreaming(path, request, as: Reply.self, timeoutMillis: timeoutMillis) {
            guard reply == nil else { throw RPCError(.internal, "\(path) answered more than one message") }
            reply = message
        }
        guard let reply else { throw RPCError(.internal, "\(path) answered no message") }
        return reply
    }

    /// A server-streaming call. Stopping the iteration cancels the call.
    public func serverStreaming<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ path: String, _ request: Request, as: Reply.Type, timeoutMillis: UInt64? = nil
    ) -> AsyncThrowingStream<Reply, any Error> {
        let (writer, replies) = bidirectional(
            path, sending: Request.self, receiving: Reply.self, timeoutMillis: timeoutMillis)
        Task {
            do {
                try await writer.send(request)
                try await writer.finish()
            } catch {}  // the reply stream reports the call's failure
        }
        return replies
    }

    /// A bidirectional call: send with the writer (then `finish` it), read the
    /// replies. Stopping the iteration cancels the call.
    public func bidirectional<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ path: String, sending: Request.Type, receiving: Reply.Type, timeoutMillis: UInt64? = nil
    ) -> (RequestWriter<Request>, AsyncThrowingStream<Reply, any Error>) {
        let (raw, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        var headers = [
            (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
            ("content-type", "application/grpc"), ("te", "trailers"),
        ]
        if let token { headers.append(("authorization", "Bearer \(token)")) }
        if let timeoutMillis { headers.append(("grpc-timeout", "\(timeoutMillis)m")) }
        let connection = self.connection
        let loop = self.loop
        let requestHeaders = headers
        let call = Task {
            try await loop.submit { () throws -> LoopBound<GRPCClientCall> in
                let call = GRPCClientCall(connection: connection.wrapped, responses: continuation)
                guard call.start(requestHeaders) else {
                    let error = RPCError(.unavailable, "the connection is closed")
                    continuation.finish(throwing: error)
                    throw error
                }
                return LoopBound(call, loop: connection.loop)
            }
        }
        let cancelCall: @Sendable () -> Void = {
            Task { if let call = try? await call.value { _ = try? await loop.submit { call.wrapped.cancel() } } }
        }
        let replies = AsyncThrowingStream<Reply, any Error> { output in
            let pump = Task {
                do {
                    for try await bytes in raw {
                        output.yield(try GRPCMethod.decode(Reply.self, bytes))
                    }
                    output.finish()
                } catch {
                    output.finish(throwing: error)
                }
            }
            output.onTermination = { termination in
                pump.cancel()
                if case .cancelled = termination { cancelCall() }
            }
        }
        return (RequestWriter(loop: loop, call: call), replies)
    }
}

/// Sends the request messages of a streaming call.
public struct RequestWriter<Message: SwiftProtobuf.Message>: Sendable {
    fileprivate let loop: EventLoop
    fileprivate let call: Task<LoopBound<GRPCClientCall>, any Error>

    /// Queues one message; suspends while the call's unsent request bytes are
    /// over the high-water mark (`HTTP2Limits.streamSendHighWatermark`).
    public func send(_ message: Message) async throws {
        let bytes: [UInt8] = try message.serializedBytes()
        let call = try await self.call.value
        try await loop.submitAsync { (ready: @escaping (Result<Void, RPCError>) -> Void) in
            call.wrapped.send(bytes, whenReady: ready)
        }.get()
    }

    /// Ends the request side of the call.
    public func finish() async throws {
        let call = try await self.call.value
        try await loop.submit { call.wrapped.closeRequests() }
    }
}

/// TLS for a `GRPCClient`: whom to trust and which name to expect.
///
/// Threading: a value; safe anywhere.
public struct GRPCClientTLS: Sendable {
    /// The trust: a CA certificate, or a pinned CA public key hash.
    public var context: TLSClientContext
    /// The name the server's certificate must carry; nil: the address
    /// connected to (its IP address).
    public var serverName: String?

    public init(context: TLSClientContext, serverName: String? = nil) {
        self.context = context
        self.serverName = serverName
    }
}
