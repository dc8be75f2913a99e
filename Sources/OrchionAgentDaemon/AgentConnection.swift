import OrchionAgentProto
import OrchionLoop
import OrchionMapping
import OrchionProto
import OrchionWire

/// The agent's stream to the server, again and again: connect with the
/// join token, `Register` (with the jobs still running), wait for
/// `Registered`, then send the outbox and heartbeats (telemetry sampled off
/// the loop, at the server's interval less up to a tenth of jitter) while
/// handing what the server sends to the daemon. When the stream ends, wait
/// (capped exponential backoff, full jitter) and start over.
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

    /// Connects until the task is cancelled.
    func run() async {
        var backoff = settings.backoff
        var serial = 0
        while !Task.isCancelled, !shared.stopping.load(ordering: .relaxed) {
            serial += 1
            let (registered, reason) = await session(serial)
            let current = serial
            _ = try? await loop.submit { daemon.wrapped.disconnected(current, reason: reason) }
            if registered { backoff.reset() }
            guard !Task.isCancelled else { return }
            let delay = backoff.next()
            if !registered {
                let text = "cannot connect to \(settings.server): \(reason); trying again in \(delay) ms"
                _ = try? await loop.submit { daemon.wrapped.log(text) }
            }
            do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
        }
    }

    /// One stream: whether it registered, and why it ended.
    private func session(_ serial: Int) async -> (Bool, String) {
        let address: SocketAddress
        switch await loop.offload({ [settings] in settings.server.resolve() }) {
        case .success(let resolved): address = resolved
        case .failure(let error): return (false, error.description)
        }
        let client: GRPCClient
        do {
            let tls = try settings.serverTrust?.clientTLS(serverName: settings.server.host)
            client = try await GRPCClient.connect(loop: loop, to: address, token: settings.joinToken, tls: tls)
        } catch {
            return (false, "\(error)")
        }
        let (writer, replies) = client.bidirectional(
            Self.method, sending: Orchion_V1_AgentMessage.self, receiving: Orchion_V1_ServerMessage.self)
        var registered = false
        var reason = "the server ended the stream"
        do {
            let register = try await loop.submit { daemon.wrapped.registerMessage() }
            try await writer.send(register)
            var messages = replies.makeAsyncIterator()
            guard let first = try await messages.next() else { throw RPCError(.unavailable, "no answer to Register") }
            guard case .registered(let answer)? = first.body else {
                throw RPCError(.internal, "expected Registered as the server's first message")
            }
            let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            try await loop.submit {
                daemon.wrapped.connected(answer, serial: serial, wake: { wake.yield() })
            }
            registered = true
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await send(writer, serial: serial, wakes: wakes) }
                group.addTask { try await heartbeats(writer) }
                defer { group.cancelAll() }
                while let message = try await messages.next() {
                    try await loop.submit { daemon.wrapped.handle(message, serial: serial) }
                }
            }
        } catch {
            reason = "\(error)"
        }
        await client.close()
        return (registered, reason)
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
