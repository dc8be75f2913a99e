import Foundation
import OrchionLoop
import OrchionWire
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Peers that stop reading, vanish mid-write, go silent or come in too many
/// numbers: each costs the server a bounded amount and it keeps serving.
/// Real sockets on 127.0.0.1, Python as the misbehaving client.
@Suite(.serialized) struct HTTP1LivenessTests {
    /// `/big` answers `bigBody` bytes, `/events` streams 16 KiB events as
    /// fast as the socket takes them, anything else a short 200.
    static let bigBody = 256 << 10

    private static func handler(cancelled: HTTP1EventCounter) -> @Sendable (HTTPRequest, HTTPResponder) -> Void {
        { request, responder in
            switch request.path {
            case "/big":
                responder.send(HTTPResponse(status: 200, body: [UInt8](repeating: 0x61, count: bigBody)))
            case "/events":
                let stream = responder.startEventStream()
                let payload = String(repeating: "x", count: 16 << 10)
                func pump() { while stream.send(data: payload) {} }
                stream.onWritable = { pump() }
                stream.onCancel = { cancelled.increment() }
                pump()
            default:
                responder.send(.json(200, Array("{\"ok\":true}".utf8)))
            }
        }
    }

    /// A client with a 4 KiB receive buffer that sends `request` over and
    /// over and never reads; once sending has been stuck for 0.5 s it waits
    /// (at most 15 s) for the server to reset the connection (SO_ERROR set,
    /// or TCP_INFO's state no longer ESTABLISHED). Prints the
    /// bytes it sent and the seconds from stuck to reset ("None" if never).
    private static func neverReader(_ request: String, maxBytes: Int = 1 << 40) -> String {
        """
        import socket, sys, time, select
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", int(sys.argv[1])))
        s.setblocking(False)
        data = \(pythonBytes(request))
        sent, last, dropped = 0, time.monotonic(), None
        while time.monotonic() - last < 0.5 and sent < \(maxBytes):
            try:
                sent += s.send(data); last = time.monotonic()
            except BlockingIOError:
                select.select([], [s], [], 0.05)
            except OSError:
                dropped = 0.0; break
        stuck = time.monotonic()
        while dropped is None and time.monotonic() - stuck < 15:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != 1:
                dropped = time.monotonic() - stuck
            else:
                select.select([], [], [], 0.02)
        print(sent, dropped)
        """
    }

    @Test func aPipeliningClientThatNeverReadsIsHeldToTheOutputBoundAndDropped() async throws {
        var limits = WireLimits()
        limits.maxUnsentOutputBytes = 512 << 10
        limits.writeTimeoutMillis = 1500
        let server = try await HandlerServer(limits: limits, handler: Self.handler(cancelled: HTTP1EventCounter()))
        let script = Self.neverReader(String(repeating: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", count: 16))
        let (result, largest) = try await server.largestUnsentOutput { try server.python(script) }
        let fields = result.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(fields.count == 2 && fields[1] != "None", "the server dropped the client: \(result.stdout)")
        // Reading stops above the bound and resumes below a quarter of it, so
        // a client that is stuck has left at least a quarter queued.
        #expect(largest >= limits.maxUnsentOutputBytes / 4, "the client filled the server's queue (largest \(largest))")
        #expect(
            largest <= limits.maxUnsentOutputBytes + Self.bigBody + 4096,
            "queued output stays within the bound plus one answer (largest \(largest))")
        #expect(try await server.wait { $0.openConnections == 0 })
        let next = try server.python(
            """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
            s.sendall(b"GET /small HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            out = b""
            while True:
                c = s.recv(65536)
                if not c: break
                out += c
            print(out.split(b"\\r\\n")[0].decode())
            """)
        #expect(next.stdout == "HTTP/1.1 200 OK\n", "the server answers the next client")
        try await server.stop()
    }

    @Test func eightClientsThatNeverReadShareTheServerWideOutputBound() async throws {
        var limits = WireLimits()
        limits.maxUnsentOutputBytes = 1 << 20
        limits.maxTotalUnsentOutputBytes = 2 << 20
        limits.writeTimeoutMillis = 5000
        let server = try await HandlerServer(limits: limits, handler: Self.handler(cancelled: HTTP1EventCounter()))
        // Eight clients with small socket buffers start a request each; a
        // ninth's whole round trip orders the server's reads after theirs.
        // Then each pipelines /big until sending is stuck for 0.5 s on all.
        let script = """
            import socket, sys, time, select
            port = int(sys.argv[1])
            socks = []
            for _ in range(8):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /big HTTP/1.1\\r\\n")
                socks.append(s)
            b = socket.create_connection(("127.0.0.1", port)); b.settimeout(5)
            b.sendall(b"GET /small HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            while b.recv(65536): pass
            b.close()
            for s in socks:
                s.sendall(b"Host: x\\r\\n\\r\\n")
                s.setblocking(False)
            data = b"GET /big HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 16
            last = time.monotonic()
            while time.monotonic() - last < 0.5:
                for s in list(socks):
                    try:
                        if s.send(data) > 0: last = time.monotonic()
                    except BlockingIOError:
                        pass
                    except OSError:
                        socks.remove(s)
                if not socks: break
                select.select([], socks, [], 0.05)
            print("stuck")
            sys.stdout.flush()
            for s in socks: s.close()
            """
        let (result, largest) = try await server.largestUnsentOutput { try server.python(script) }
        #expect(result.stdout == "stuck\n", "\(result.stderr)")
        // Each stuck client left at least a quarter of its share (2 MiB / 8) queued.
        #expect(largest >= 8 * (256 << 10) / 4, "the clients filled the server's queues (largest \(largest))")
        #expect(
            largest <= limits.maxTotalUnsentOutputBytes + 8 * (Self.bigBody + 4096),
            "8 stuck clients together stay within the total plus one answer each (largest \(largest))")
        print("eight stuck readers: largest total unsent output \(largest) bytes")
        // Gone (at the latest at the write timeout), each share is whole again.
        #expect(try await server.wait(seconds: 15) { $0.openConnections == 0 && $0.http1OutputShare == 1 << 20 })
        try await server.stop()
    }

    @Test func anEventStreamWhoseClientNeverReadsIsDroppedAfterTheWriteTimeout() async throws {
        var limits = WireLimits()
        limits.maxUnsentOutputBytes = 256 << 10
        limits.writeTimeoutMillis = 1000
        let cancelled = HTTP1EventCounter()
        let server = try await HandlerServer(limits: limits, handler: Self.handler(cancelled: cancelled))
        let script = Self.neverReader("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", maxBytes: 1)
        let (result, largest) = try await server.largestUnsentOutput { try server.python(script) }
        let dropped = result.stdout.split(separator: " ").last.map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(dropped != nil && dropped != "None", "the server dropped the stream: \(result.stdout)")
        #expect(largest > 0 && largest <= limits.maxUnsentOutputBytes + (16 << 10) + 4096, "largest \(largest)")
        #expect(try await server.wait { $0.openConnections == 0 })
        #expect(cancelled.value == 1, "the producer was told the peer is gone")
        try await server.stop()
    }

    @Test func aPeerThatResetsWhileTheServerWritesChangesNothing() async throws {
        let server = try await HandlerServer(handler: Self.handler(cancelled: HTTP1EventCounter()))
        // Each client asks for two large answers in one write, reads one
        // byte (so the server is mid-write), then resets (SO_LINGER 0).
        let reply = try server.python(
            """
            import socket, struct, sys
            port = int(sys.argv[1])
            for i in range(20):
                s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
                s.sendall(b"GET /big HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 2)
                s.recv(1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
            s.sendall(b"GET /small HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            out = b""
            while True:
                c = s.recv(65536)
                if not c: break
                out += c
            print(out.split(b"\\r\\n")[0].decode())
            """)
        #expect(reply.stdout == "HTTP/1.1 200 OK\n", "\(reply.stderr)")
        #expect(try await server.wait { $0.openConnections == 0 }, "every reset connection was closed")
        try await server.stop()
    }

    @Test func aPipelinedPairThenACloseChangesNothing() async throws {
        let fixture = try await WireFixture()
        let token = WireFixture.clientToken
        // Each client sends two requests and closes at once: the server's
        // answers go to a socket that answers with a reset.
        let reply = try fixture.python(
            """
            import socket, sys
            port = int(sys.argv[1])
            pair = b"GET /v1/nodes HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer \(token)\\r\\n\\r\\n" * 2
            for i in range(50):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(pair)
                s.close()
            s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
            s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            out = b""
            while True:
                c = s.recv(65536)
                if not c: break
                out += c
            print(out.split(b"\\r\\n")[0].decode())
            """)
        #expect(reply.stdout == "HTTP/1.1 200 OK\n", "\(reply.stderr)")
        try await fixture.stop()
    }

    @Test func acceptedSocketsHaveTCPKeepalive() async throws {
        let server = try await HandlerServer(handler: Self.handler(cancelled: HTTP1EventCounter()))
        let client = try #require(Self.connectClient(port: server.port))
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client, $0, &length) }
        }
        let clientPort = UInt16(bigEndian: local.sin_port)
        #expect(try await server.wait { $0.openConnections == 1 })
        // /proc/net/tcp's "tr" column is 2 while a socket's keepalive timer runs.
        let serverTimer = try Self.tcpTimer(local: server.port, remote: clientPort)
        let clientTimer = try Self.tcpTimer(local: clientPort, remote: server.port)
        #expect(serverTimer == "02", "the server's side has its keepalive timer running")
        #expect(clientTimer == "00", "the client's side, without keepalive, has none (the column tells them apart)")
        Glibc.close(client)
        try await server.stop()
    }

    /// The timer kind of the IPv4 socket `local` ↔ `remote` in /proc/net/tcp.
    private static func tcpTimer(local: UInt16, remote: UInt16) throws -> String? {
        // Read to EOF: procfs files report size 0, so size-based reads stop short.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/net/tcp"))
        defer { try? file.close() }
        let table = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        let hex = { (port: UInt16) in String(format: "%04X", port) }
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 5, fields[1].hasSuffix(":" + hex(local)), fields[2].hasSuffix(":" + hex(remote)) else {
                continue
            }
            return fields[5].split(separator: ":").first.map(String.init)
        }
        return nil
    }

    @Test func connectionsOverTheLimitGetA503AndTheServerRecovers() async throws {
        var limits = WireLimits()
        limits.maxConnections = 2
        let server = try await HandlerServer(limits: limits, handler: Self.handler(cancelled: HTTP1EventCounter()))
        let reply = try server.python(
            """
            import socket, sys
            port = int(sys.argv[1])
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
            for h in held:
                h.sendall(b"GET /small HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"); h.settimeout(5); h.recv(65536)
            s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
            out = b""
            while True:
                c = s.recv(65536)
                if not c: break
                out += c
            print(out.decode())
            """)
        #expect(reply.stdout.hasPrefix("HTTP/1.1 503 Service Unavailable"), "\(reply.stdout)\(reply.stderr)")
        #expect(reply.stdout.contains("Connection: close"))
        #expect(reply.stdout.contains("server at its limit of 2 connections"))
        #expect(try await server.probe(\.refusedConnections) == 1)
        #expect(try await server.wait { $0.openConnections == 0 }, "the held ones closed when Python exited")
        let after = try server.python(
            """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
            s.sendall(b"GET /small HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            print(s.recv(65536).split(b"\\r\\n")[0].decode())
            """)
        #expect(after.stdout == "HTTP/1.1 200 OK\n")
        try await server.stop()
    }

    @Test func connectionsShareTheirLoopsReadBuffer() async throws {
        let server = try await HandlerServer(handler: Self.handler(cancelled: HTTP1EventCounter()))
        var clients: [Int32] = []
        for _ in 0..<8 {
            let client = try #require(Self.connectClient(port: server.port))
            clients.append(client)
            let request = Array("GET /small HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            #expect(send(client, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
            var reply = [UInt8](repeating: 0, count: 4096)
            #expect(recv(client, &reply, reply.count, 0) > 0, "answered")
        }
        #expect(try await server.probe(\.openConnections) == 8)
        #expect(
            try await server.probe { _ in Stream.readBufferBytesOnThisThread } == Stream.readBufferSize,
            "eight connections that have been read from share one read buffer on their loop thread")
        for client in clients { Glibc.close(client) }
        #expect(try await server.wait { $0.openConnections == 0 })
        try await server.stop()
    }

    /// A blocking client socket connected to 127.0.0.1:`port`, with 5 s receive timeout.
    static func connectClient(port: UInt16) -> Int32? {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { return nil }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(client)
            return nil
        }
        return client
    }
}
