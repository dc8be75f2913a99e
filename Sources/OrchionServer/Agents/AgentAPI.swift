import OrchionLoop
import OrchionProto
import OrchionWire
import Synchronization

/// The agent protocol over the control plane: one stream per agent, which
/// must open with `Register`; then heartbeats, job events and log chunks up,
/// and the router's assignments, cancels and settings down.
///
/// Threading: each stream's call runs as a task on the loop.
struct AgentAPI: AgentServiceHandler {
    /// Job output accepted and not yet on disk, over all agents, beyond
    /// which an agent's stream is not read until half of it is written.
    static let logBacklogBytes = 64 << 20

    let plane: LoopBound<ControlPlane>
    let serials = SerialCounter()

    func connect(
        _ requests: RequestStream<Orchion_V1_AgentMessage>, context: CallContext,
        responses: ResponseStream<Orchion_V1_ServerMessage>
    ) async throws {
        var incoming = requests.makeAsyncIterator()
        guard let first = try await incoming.next() else { return }
        guard case .register(let register)? = first.body else {
            throw RPCError(.invalidArgument, "expected Register as the first message of the stream")
        }
        let (session, registered) = try plane.wrapped.register(
            register, principal: context.principal, serial: serials.next())
        let plane = self.plane
        defer { plane.wrapped.disconnected(session) }
        var answer = registered
        if context.principal == .agent {
            // Joining with the join token: the node gets its own credential,
            // durable (its digest) before the agent can present it.
            answer.nodeCredential = try await Self.issueCredential(to: session, plane: plane)
        }
        try await responses.send(.with { $0.registered = answer })
        ServerLog.info(
            "node \(session.nodeID) registered (\(register.hostname))"
                + (answer.nodeCredential.isEmpty ? "" : "; issued it a new node credential"))
        let outbound = session.outbound
        let owner = LoopBound(session, loop: plane.loop)
        // Two tasks: the router writes what the plane sends, the reader
        // takes what the agent sends; the first to end ends the call. When
        // the plane closes the session because the node registered again
        // elsewhere, the call ends ABORTED, so the old agent learns it.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask(executorPreference: plane.loop) {
                for await message in outbound { try await responses.send(message) }
                if let reason = owner.wrapped.supersededBy { throw reason }
            }
            group.addTask(executorPreference: plane.loop) {
                // A new iterator of the same stream goes on after Register
                // (the first one is never used again, so never concurrently).
                var incoming = requests.makeAsyncIterator()
                while let message = try await incoming.next() {
                    let session = owner.wrapped
                    switch message.body {
                    case .heartbeat(let heartbeat)?: plane.wrapped.heartbeat(heartbeat, from: session)
                    case .jobEvent(let event)?: plane.wrapped.jobEvent(event, from: session)
                    case .logChunk(let chunk)?:
                        plane.wrapped.logChunk(chunk, from: session)
                        // Read no more from this agent while the disk is behind:
                        // its stream's window fills and its output waits (spills) there.
                        if let logs = plane.wrapped.logs, logs.backlogBytes > Self.logBacklogBytes {
                            session.heldBack = true
                            await withCheckedContinuation { resume in
                                logs.whenBacklog(atMost: Self.logBacklogBytes / 2) { resume.resume() }
                            }
                            session.heldBack = false
                        }
                    case .leaving(let leaving)?: plane.wrapped.leaving(leaving, from: session)
                    case .register?:
                        throw RPCError(.invalidArgument, "Register may only be the first message of a stream")
                    case nil:
                        throw RPCError(
                            .invalidArgument, "expected a heartbeat, job event, log chunk or leaving; found nothing")
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}

extension AgentAPI {
    /// A fresh credential for `session`'s node (from the kernel's random
    /// source, on the thread pool), made its only one once its digest is
    /// durable.
    static func issueCredential(to session: AgentSession, plane: LoopBound<ControlPlane>) async throws -> String {
        let generated = await plane.loop.offload { () -> Result<String, TokenFileError> in
            Result { () throws(TokenFileError) -> String in try TokenFile.generate() }
        }
        let token: String
        switch generated {
        case .success(let value): token = value
        case .failure(let error):
            ServerLog.error("cannot make a credential for node \(session.nodeID): \(error)")
            throw RPCError(.unavailable, "the server cannot make a node credential now; try again")
        }
        try plane.wrapped.issueCredential(token, to: session)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            plane.wrapped.whenDurable { done.resume() }
        }
        return token
    }
}

/// Numbers agent connections.
final class SerialCounter: Sendable {
    private let value = Mutex(0)

    func next() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
