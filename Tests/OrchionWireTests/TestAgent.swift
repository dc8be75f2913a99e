import OrchionProto
import OrchionWire

/// A small AgentServiceHandler: answers Register with Registered and every
/// heartbeat with a ConfigUpdate that echoes its sequence number.
struct TestAgent: AgentServiceHandler {
    func connect(
        _ requests: RequestStream<Orchion_V1_AgentMessage>, context: CallContext,
        responses: ResponseStream<Orchion_V1_ServerMessage>
    ) async throws {
        var registered = false
        for try await message in requests {
            switch message.body {
            case .register(let register)?:
                registered = true
                try await responses.send(
                    .with {
                        $0.registered = .with {
                            $0.nodeID = register.nodeID
                            $0.heartbeatInterval = .with { $0.seconds = 5 }
                        }
                    })
            case .heartbeat(let beat)? where registered:
                try await responses.send(.with { $0.config = .with { $0.values = ["echo": String(beat.sequence)] } })
            default:
                throw RPCError(.failedPrecondition, "expected Register first")
            }
        }
    }
}
