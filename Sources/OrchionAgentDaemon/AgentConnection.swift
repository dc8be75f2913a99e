import OrchionAgentProto
import OrchionLoop
import OrchionMapping
import OrchionProto
import OrchionWire

/// The agent's stream to the server, again and again: connect with the
/// node credential (or, to join, the join token), `Register` (with the
/// jobs still running), wait for `Registered`, then send the outbox and
/// heartbeats (telemetry sampled off the loop, at the server's interval
/// less up to a tenth of jitter) while handing what the server sends to
/// the daemon. When the stream ends, wait (capped exponential backoff, full
/// jitter) and start over.
///
/// Credentials: a `Registered` made with the join token carries the node's
/// own credential, which is written to the state directory (synced) before
/// it is used; later connections present it. When the server refuses the
/// credential (the node was removed, or joined again elsewhere), the agent
/// joins once with the join token; when that is refused too, or there is
/// no join token, it stops (`refused`, exit status 77) instead of retrying
/// a secret that cannot work. An unreachable server is retried as ever.
///
/// Threading: runs as one task on the loop (`executorPreference`); the
/// daemon is reached through `loop.submit`.
struct AgentConnection: Sendable {
    static let method = "/orchion.v1.AgentService/Connect"

    let daemon: LoopBound<AgentDaemon>
    let loop: EventLoop
    let settings: AgentSettings
    let shared: DaemonShared
    let journal: AgentJournal
    let journalWorker: SerialWorker

    /// What one stream came to.
    struct SessionEnd {
        var registered = false
        var reason = "the server ended the stream"
        /// The server refused the secret presented (before `Registered`).
        var refused: RPCError?
        /// The credential to present next (a new one once it is kept, nil
        /// when one was issued and could not be kept: join again).
        var credential: NodeCredential?
    }

    /// Connects until the task is cancelled, or until the server refuses
    /// this node for good.
    func run() async {
        var backoff = settings.backoff
        var serial = 0
        var credential = settings.nodeCredential
        /// Why the server refused the node credential, while joining again.
        var credentialRefusal: String?
        while !Task.isCancelled, !shared.stopping.load(ordering: .relaxed) {
            serial += 1
            let end = await session(serial, credential: credential)
            let current = serial
            _ = try? await loop.submit { daemon.wrapped.disconnected(current, reason: end.reason) }
            if end.registered {
                backoff.reset()
                credentialRefusal = nil
            }
            guard !Task.isCancelled else { return }
            if let refusal = end.refused {
                if credential != nil {
                    // The node credential is refused: join with the join token, once, at once.
                    credential = nil
                    credentialRefusal = refusal.message
                    guard settings.joinToken != nil else {
                        return await stop(credentialRefused: refusal.message, joinRefused: nil)
                    }
                    let text =
                        "the server refused this node's credential (\(refusal.message)); joining again with the join token"
                    _ = try? await loop.submit { daemon.wrapped.log(text) }
                    continue
                }
                if refusal.code == .permissionDenied || credentialRefusal != nil {
                    return await stop(credentialRefused: credentialRefusal, joinRefused: refusal.message)
                }
            }
            credential = end.credential
            let delay = backoff.next()
            if !end.registered {
                let text = "cannot connect to \(settings.server): \(end.reason); trying again in \(delay) ms"
                _ = try? await loop.submit { daemon.wrapped.log(text) }
            }
            do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
        }
    }

    /// Tells the daemon to stop for good: the node is not let in. The
    /// server's refusals (its credential's, its join's; nil: not tried)
    /// make the one line that says why and what to do.
    private func stop(credentialRefused: String?, joinRefused: String?) async {
        let line = Self.refusalLine(
            node: settings.nodeID, credentialRefused: credentialRefused, joinRefused: joinRefused)
        _ = try? await loop.submit { daemon.wrapped.refused(line) }
    }

    /// The line an agent the server does not let in logs as it stops.
    static func refusalLine(node: String, credentialRefused: String?, joinRefused: String?) -> String {
        let removed = Authenticator.removedMessage(node)
        let exiting = "exiting with status \(AgentProcess.refusedExitStatus)"
        if credentialRefused == removed || joinRefused == removed {
            return "node \(node) was removed from the cluster (`orchion node remove`): the server refuses its "
                + "credential and its join; to let it back run `orchion node admit \(node)`, then restart this "
                + "agent (it joins again with the join token); \(exiting)"
        }
        var refusals: [String] = []
        if let credentialRefused { refusals.append("its node credential (\(credentialRefused))") }
        if let joinRefused {
            refusals.append("its join with the join token (\(joinRefused))")
        } else {
            refusals.append("no join token is configured to join again")
        }
        return "node \(node) is not let into the cluster: the server refused "
            + refusals.joined(separator: " and ")
            + "; if it was removed, `orchion node admit \(node)` lets it back; then restart this agent with the "
            + "cluster's join token; \(exiting)"
    }

    /// One stream, presenting `credential` (else the join token).
    private func session(_ serial: Int, credential: NodeCredential?) async -> SessionEnd {
        var end = SessionEnd(credential: credential)
        let address: SocketAddress
        switch await loop.offload({ [settings] in settings.server.resolve() }) {
        case .success(let resolved): address = resolved
        case .failure(let error):
            end.reason = error.description
            return end
        }
        let client: GRPCClient
        do {
            let tls = try settings.serverTrust?.clientTLS(serverName: settings.server.host)
            client = try await GRPCClient.connect(
                loop: loop, to: address, token: credential?.token ?? settings.joinToken, tls: tls)
        } catch {
            end.reason = "\(error)"
            return end
        }
        let (writer, replies) = client.bidirectional(
            Self.method, sending: Orchion_V1_AgentMessage.self, receiving: Orchion_V1_ServerMessage.self)
        do {
            let register = try await loop.submit { daemon.wrapped.registerMessage() }
            var messages = replies.makeAsyncIterator()
            let first: Orchion_V1_ServerMessage?
            do {
                // The request's headers (and the secret) may be refused before
                // Register is written: `send` then throws the server's status.
                try await writer.send(register)
                first = try await messages.next()
            } catch let error as RPCError where error.code == .unauthenticated || error.code == .permissionDenied {
                end.refused = error
                throw error
            }
            guard let first else { throw RPCError(.unavailable, "no answer to Register") }
            guard case .registered(let answer)? = first.body else {
                throw RPCError(.internal, "expected Registered as the server's first message")
            }
            if !answer.nodeCredential.isEmpty {
                end.credential = await keep(answer.nodeCredential)
            }
            let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            try await loop.submit {
                daemon.wrapped.connected(answer, serial: serial, wake: { wake.yield() })
            }
            end.registered = true
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await send(writer, serial: serial, wakes: wakes) }
                group.addTask { try await heartbeats(writer) }
                defer { group.cancelAll() }
                while let message = try await messages.next() {
                    try await loop.submit { daemon.wrapped.handle(message, serial: serial) }
                }
            }
        } catch {
            end.reason = "\(error)"
        }
        await client.close()
        return end
    }

    /// Keeps the credential the server issued in the state directory
    /// (synced, off the loop) and returns it; nil when it cannot be kept
    /// (the next connection joins with the join token again, which issues
    /// another).
    private func keep(_ token: String) async -> NodeCredential? {
        let credential = NodeCredential(nodeID: settings.nodeID, token: token)
        let path = settings.credentialPath
        let text: String
        var kept: NodeCredential?
        if !NodeCredential.isUsable(token) {
            text = "ignored the node credential the server issued: it is not 16 to 512 printable characters"
        } else {
            let result = await loop.offload { () -> Result<Void, JournalError> in
                Result { () throws(JournalError) in try NodeCredentialFile.write(credential, to: path) }
            }
            switch result {
            case .success:
                kept = credential
                text = "joined as node \(settings.nodeID): its own credential is kept in \(path) and used from now on"
            case .failure(let error):
                text = "cannot keep the node credential in \(path) (\(error)); the next connection joins again"
            }
        }
        _ = try? await loop.submit { daemon.wrapped.log(text) }
        return kept
    }

    /// Sends the outbox, in order, whenever it has something.
    private func send(_ writer: RequestWriter<Orchion_V1_AgentMessage>, serial: Int, wakes: AsyncStream<Void>)
        async throws
    {
        var wakeups = wakes.makeAsyncIterator()
        var leavingSent = false
        while !Task.isCancelled {
            let (leaving, batch) = try await loop.submit { (daemon.wrapped.leaving, daemon.wrapped.outbox.takeBatch()) }
            if let leaving, !leavingSent {
                // Before anything queued after the shutdown began (LOST answers).
                try await writer.send(.with { $0.leaving = leaving })
                leavingSent = true
                try await loop.submit { daemon.wrapped.leavingSent() }
            }
            if batch.isEmpty {
                guard await wakeups.next() != nil else { return }
                continue
            }
            var ids: [UInt64] = []
            ids.reserveCapacity(batch.count)
            for item in batch {
                var message = item.message
                if message == nil, let sequence = item.sequence {
                    let journal = self.journal
                    message = try await journalWorker.submit { try journal.message(sequence) }
                }
                if let message { try await writer.send(message) }
                ids.append(item.id)
            }
            let now = monotonicMillis()
            let sent = ids
            try await loop.submit { daemon.wrapped.sent(sent, on: serial, at: now) }
        }
    }

    /// A heartbeat at once, then every interval less up to a tenth.
    private func heartbeats(_ writer: RequestWriter<Orchion_V1_AgentMessage>) async throws {
        var sequence: UInt64 = 0
        let shared = self.shared
        while !Task.isCancelled {
            let running = try await loop.submit { daemon.wrapped.meteredAttempts() }
            let telemetry = await loop.offload { shared.telemetry(running) }
            sequence += 1
            let number = sequence
            try await writer.send(
                .with {
                    $0.heartbeat = .with {
                        $0.sequence = number
                        $0.telemetry = telemetry
                    }
                })
            let interval = shared.heartbeatMillis.load(ordering: .relaxed)
            let wait = interval - UInt64.random(in: 0...(interval / 10))
            try await Task.sleep(for: .milliseconds(wait))
        }
    }
}
