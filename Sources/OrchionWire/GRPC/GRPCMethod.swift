import OrchionProto
import SwiftProtobuf

/// Incoming messages of a client- or bidirectional-streaming call. Each
/// message is acknowledged to the peer's flow-control window only when the
/// iteration takes it, so a handler that stops iterating stops the peer.
public struct RequestStream<Message: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Message
    private let raw: AsyncThrowingStream<[UInt8], any Error>
    private let decode: @Sendable ([UInt8]) throws -> Message
    private let taken: @Sendable (Int) -> Void

    /// Iterates the raw stream, reporting each taken message's framed size.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator
        let decode: @Sendable ([UInt8]) throws -> Message
        let taken: @Sendable (Int) -> Void

        public mutating func next() async throws -> Message? {
            guard let bytes = try await base.next() else { return nil }
            taken(bytes.count + 5)
            return try decode(bytes)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: raw.makeAsyncIterator(), decode: decode, taken: taken)
    }

    /// The same messages, decoded by `transform` as they are taken.
    func map<Other: Sendable>(_ transform: @escaping @Sendable (Message) throws -> Other) -> RequestStream<Other> {
        let decode = self.decode
        return RequestStream<Other>(raw: raw, decode: { try transform(try decode($0)) }, taken: taken)
    }

    fileprivate init(
        raw: AsyncThrowingStream<[UInt8], any Error>, decode: @escaping @Sendable ([UInt8]) throws -> Message,
        taken: @escaping @Sendable (Int) -> Void
    ) {
        self.raw = raw
        self.decode = decode
        self.taken = taken
    }
}

extension RequestStream where Message == [UInt8] {
    /// Serialized messages from `raw`; `taken` gets each one's framed size as the handler takes it.
    init(raw: AsyncThrowingStream<[UInt8], any Error>, taken: @escaping @Sendable (Int) -> Void) {
        self.init(raw: raw, decode: { $0 }, taken: taken)
    }
}

/// The agent protocol, implemented by the server: one bidirectional stream per agent.
public protocol AgentServiceHandler: Sendable {
    func connect(
        _ requests: RequestStream<Orchion_V1_AgentMessage>, context: CallContext,
        responses: ResponseStream<Orchion_V1_ServerMessage>
    ) async throws
}

/// One gRPC method, its shape and who may call it, working on serialized bytes.
struct GRPCMethod: Sendable {
    enum Shape: Sendable {
        case unary(@Sendable ([UInt8], CallContext) async throws -> [UInt8])
        case serverStreaming(@Sendable ([UInt8], CallContext, ResponseStream<[UInt8]>) async throws -> Void)
        case bidirectional(
            @Sendable (RequestStream<[UInt8]>, CallContext, ResponseStream<[UInt8]>) async throws -> Void)
    }

    /// Whether agents (join token) rather than clients (API tokens) call it.
    let forAgents: Bool
    let shape: Shape

    static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ bytes: [UInt8]) throws -> M {
        do {
            return try M(serializedBytes: bytes)
        } catch {
            throw RPCError(.invalidArgument, "invalid \(M.protoMessageName): \(error)")
        }
    }

    static func unary<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ call: @escaping @Sendable (Request, CallContext) async throws -> Reply
    ) -> GRPCMethod {
        GRPCMethod(
            forAgents: false,
            shape: .unary { bytes, context in
                try await call(try decode(Request.self, bytes), context).serializedBytes()
            })
    }

    static func serverStreaming<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ call: @escaping @Sendable (Request, CallContext, ResponseStream<Reply>) async throws -> Void
    ) -> GRPCMethod {
        GRPCMethod(
            forAgents: false,
            shape: .serverStreaming { bytes, context, out in
                try await call(
                    try decode(Request.self, bytes), context,
                    ResponseStream { try await out.send(try $0.serializedBytes()) })
            })
    }
}

/// The methods served over gRPC, by path ("/orchion.v1.ControlService/ListNodes").
public struct GRPCServices: Sendable {
    let methods: [String: GRPCMethod]

    /// Serves `control` (client tokens, each call checked against
    /// `ControlScopes`) and, when given, `agent` (the join token and node
    /// credentials).
    public init(control: any ControlServiceHandler, agent: (any AgentServiceHandler)? = nil) {
        let control = ScopedControlService.guarding(control)
        let prefix = "/orchion.v1.ControlService/"
        var methods: [String: GRPCMethod] = [
            prefix + "ListNodes": .unary(control.listNodes),
            prefix + "GetNode": .unary(control.getNode),
            prefix + "DrainNode": .unary(control.drainNode),
            prefix + "SubmitJob": .unary(control.submitJob),
            prefix + "ListJobs": .unary(control.listJobs),
            prefix + "GetJob": .unary(control.getJob),
            prefix + "CancelJob": .unary(control.cancelJob),
            prefix + "FollowLogs": .serverStreaming(control.followLogs),
            prefix + "WatchEvents": .serverStreaming(control.watchEvents),
            prefix + "ListPlugins": .unary(control.listPlugins),
            prefix + "CordonNode": .unary(control.cordonNode),
            prefix + "UncordonNode": .unary(control.uncordonNode),
            prefix + "GetScheduler": .unary(control.getScheduler),
            prefix + "SetScheduler": .unary(control.setScheduler),
            prefix + "UndrainNode": .unary(control.undrainNode),
            prefix + "SubmitJobs": .unary(control.submitJobs),
            prefix + "CreateToken": .unary(control.createToken),
            prefix + "ListTokens": .unary(control.listTokens),
            prefix + "RevokeToken": .unary(control.revokeToken),
            prefix + "RemoveNode": .unary(control.removeNode),
            prefix + "AdmitNode": .unary(control.admitNode),
        ]
        if let agent {
            methods["/orchion.v1.AgentService/Connect"] = GRPCMethod(
                forAgents: true,
                shape: .bidirectional { requests, context, out in
                    try await agent.connect(
                        requests.map { try GRPCMethod.decode(Orchion_V1_AgentMessage.self, $0) }, context: context,
                        responses: ResponseStream { try await out.send(try $0.serializedBytes()) })
                })
        }
        self.methods = methods
    }
}
