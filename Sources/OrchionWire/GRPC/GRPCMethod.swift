import OrchionProto
import SwiftProtobuf

/// Incoming messages of a client- or bidirectional-streaming call.
public struct RequestStream<Message: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Message
    let stream: AsyncThrowingStream<Message, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<Message, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
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

    /// Serves `control` (client tokens) and, when given, `agent` (the join token).
    public init(control: any ControlServiceHandler, agent: (any AgentServiceHandler)? = nil) {
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
        ]
        if let agent {
            methods["/orchion.v1.AgentService/Connect"] = GRPCMethod(
                forAgents: true,
                shape: .bidirectional { requests, context, out in
                    let decoded = AsyncThrowingStream<Orchion_V1_AgentMessage, any Error> { continuation in
                        let pump = Task {
                            do {
                                for try await bytes in requests {
                                    continuation.yield(try GRPCMethod.decode(Orchion_V1_AgentMessage.self, bytes))
                                }
                                continuation.finish()
                            } catch {
                                continuation.finish(throwing: error)
                            }
                        }
                        continuation.onTermination = { _ in pump.cancel() }
                    }
                    try await agent.connect(
                        RequestStream(stream: decoded), context: context,
                        responses: ResponseStream { try await out.send(try $0.serializedBytes()) })
                })
        }
        self.methods = methods
    }
}
