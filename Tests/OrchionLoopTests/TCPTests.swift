import OrchionLoop
import Testing

@Suite struct TCPTests {
    /// Starts an echo server on 127.0.0.1 with a free port; returns it and its port.
    private func echoServer(_ loop: EventLoop) throws -> (TCPListener, UInt16) {
        let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
        try listener.listen { accepted in
            guard case .success(let connection) = accepted else { return }
            try? connection.startReading { event in
                switch event {
                case .data(let bytes): connection.write(bytes)
                case .eof, .error: connection.close()
                }
            }
        }
        return (listener, listener.address!.port)
    }

    @Test func echoesOverLoopback() async throws {
        let reply: String = try await withLoop { loop in
            try await loop.run { finish in
                let (listener, port) = try echoServer(loop)
                TCPConnection.connect(loop: loop, to: SocketAddress(host: "127.0.0.1", port: port)) { result in
                    guard case .success(let client) = result else { return }
                    #expect(client.peer?.port == port)
                    var received: [UInt8] = []
                    try? client.startReading { event in
                        if case .data(let bytes) = event { received += bytes }
                        if received.count == 5 {
                            client.close()
                            listener.close()
                            finish(String(decoding: received, as: UTF8.self))
                        }
                    }
                    client.write(Array("hello".utf8))
                }
            }
        }
        #expect(reply == "hello")
    }

    @Test func largeWritesApplyBackpressureAndArriveWhole() async throws {
        let total = 32 << 20
        let (received, blocked, resumed): (Int, Bool, Bool) = try await withLoop { loop in
            try await loop.run(within: 60) { finish in
                let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
                var count = 0
                var server: TCPConnection?
                try listener.listen { accepted in
                    guard case .success(let connection) = accepted else { return }
                    server = connection
                    // Read slowly at first so the sender's queue grows.
                    connection.stopReading()
                }
                TCPConnection.connect(loop: loop, to: listener.address!) { result in
                    guard case .success(let client) = result else { return }
                    let chunk = [UInt8](repeating: 7, count: 1 << 20)
                    var sent = 0
                    var blocked = false
                    var resumed = false
                    func pump() {
                        while sent < total {
                            sent += chunk.count
                            if !client.write(chunk) {
                                blocked = true
                                return
                            }
                        }
                        client.shutdown()
                    }
                    client.onWritable = {
                        resumed = true
                        pump()
                    }
                    pump()
                    let start = try! Timer(loop: loop)
                    start.start(after: 50) {
                        start.close()
                        try? server?.startReading { event in
                            switch event {
                            case .data(let bytes): count += bytes.count
                            case .eof, .error:
                                server?.close()
                                client.close()
                                listener.close()
                                finish((count, blocked, resumed))
                            }
                        }
                    }
                }
            }
        }
        #expect(received == total)
        #expect(blocked, "write must report a full queue")
        #expect(resumed, "onWritable must fire once the queue drains")
    }

    @Test func refusedConnectionsReportTheError() async throws {
        let error: LoopError? = try await withLoop { loop in
            try await loop.run { finish in
                // Bind a port, close it, then connect to it: nothing listens there.
                let probe = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
                let port = probe.address!.port
                probe.close {
                    TCPConnection.connect(loop: loop, to: SocketAddress(host: "127.0.0.1", port: port)) { result in
                        if case .failure(let error) = result { finish(error) } else { finish(nil) }
                    }
                }
            }
        }
        #expect(error?.name == "ECONNREFUSED")
    }

    @Test func bindingABusyPortFailsClearly() async throws {
        let message: String = try await withLoop { loop in
            try await loop.run { finish in
                let first = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
                try first.listen { _ in }
                // libuv may report the clash at bind or at listen.
                var second: TCPListener?
                do {
                    second = try TCPListener(loop: loop, address: first.address!)
                    try second?.listen { _ in }
                    finish("bound twice")
                } catch {
                    finish("\(error)")
                }
                second?.close()
                first.close()
            }
        }
        #expect(message.contains("EADDRINUSE"))
    }

    @Test func writesToAResetPeerAndToAClosedStreamFailAsErrors() async throws {
        struct Outcome: Sendable {
            var afterReset: [String] = []
            var afterClose: String?
            var acceptedAfterClose = true
            var shutdownAfterClose: String?
            var readAfterClose: String?
            var closeCompletions = 0
        }
        let outcome: Outcome = try await withLoop { loop in
            try await loop.run { finish in
                let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
                var outcome = Outcome()
                try listener.listen { accepted in
                    guard case .success(let server) = accepted else { return }
                    listener.close()
                    try? server.startReading { event in
                        guard case .data = event else {
                            // The peer reset: every write now fails (EPIPE
                            // would be SIGPIPE, were it not ignored).
                            let chunk = [UInt8](repeating: 1, count: 1 << 20)
                            for _ in 0..<4 {
                                server.write(chunk) { error in
                                    outcome.afterReset.append(error?.name ?? "ok")
                                    guard outcome.afterReset.count == 4 else { return }
                                    server.close {
                                        outcome.closeCompletions += 1
                                        finish(outcome)
                                    }
                                    server.close { outcome.closeCompletions += 1 }
                                    outcome.acceptedAfterClose = server.write([1]) { outcome.afterClose = $0?.name }
                                    server.shutdown { outcome.shutdownAfterClose = $0?.name }
                                    do {
                                        try server.startReading { _ in }
                                    } catch {
                                        outcome.readAfterClose = (error as? LoopError)?.name
                                    }
                                }
                            }
                            return
                        }
                    }
                }
                TCPConnection.connect(loop: loop, to: listener.address!) { result in
                    guard case .success(let client) = result else { return }
                    client.write(Array("x".utf8)) { _ in client.closeAbruptly() }
                }
            }
        }
        #expect(outcome.afterReset.count == 4)
        #expect(
            outcome.afterReset.allSatisfy { ["ECONNRESET", "EPIPE", "ECANCELED"].contains($0) }, "\(outcome.afterReset)"
        )
        #expect(outcome.afterReset.contains("EPIPE") || outcome.afterReset.contains("ECANCELED"))
        #expect(outcome.afterClose == "EPIPE" && !outcome.acceptedAfterClose)
        #expect(outcome.shutdownAfterClose == "EPIPE")
        #expect(outcome.readAfterClose == "EPIPE")
        #expect(outcome.closeCompletions == 1, "a second close does nothing")
    }

    @Test func closingWithQueuedWritesCancelsThem() async throws {
        let errors: [String] = try await withLoop { loop in
            try await loop.run { finish in
                let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
                var peer: TCPConnection?
                try listener.listen { accepted in
                    guard case .success(let server) = accepted else { return }
                    peer = server  // never reads
                }
                TCPConnection.connect(loop: loop, to: listener.address!) { result in
                    guard case .success(let client) = result else { return }
                    var errors: [String] = []
                    let chunk = [UInt8](repeating: 2, count: 8 << 20)
                    for _ in 0..<4 {
                        client.write(chunk) { error in
                            errors.append(error?.name ?? "ok")
                            if errors.count == 4 {
                                peer?.close()
                                listener.close()
                                finish(errors)
                            }
                        }
                    }
                    #expect(client.queuedBytes > 0)
                    client.close()
                }
            }
        }
        #expect(errors.contains("ECANCELED"), "\(errors)")
        #expect(errors.allSatisfy { $0 == "ok" || $0 == "ECANCELED" }, "\(errors)")
    }
}
