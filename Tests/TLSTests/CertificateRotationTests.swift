import Foundation
import OrchionLoop
import OrchionServer
import OrchionWire
import TestSupport
import Testing

/// A renewed server certificate is served to new connections while an open
/// TLS connection keeps working on the one it began with.
@Suite struct CertificateRotationTests {
    /// One open TLS client connection, driven on the loop thread.
    private final class Client: @unchecked Sendable {
        var stream: TLSStream?
        var received: [UInt8] = []
    }

    @Test func aRenewedCertificateGoesToNewConnectionsAndOpenOnesKeepServing() async throws {
        let base = try Paths.temporaryDirectory("orchion-rotation")
        defer { try? FileManager.default.removeItem(at: base) }
        var config = ServerConfig()
        config.listen = SocketAddress(host: "127.0.0.1", port: 0)
        config.tls.directory = base.appendingPathComponent("tls").path
        let names = SubjectNames.host(listenHost: "127.0.0.1", extra: [])
        // Valid 60 s after an hour's backdating: already due for renewal.
        let aging = try ClusterCA.prepare(directory: config.tls.directory, names: names, serverLifetime: 60)
        let caPEM = try #require(aging.caCertificatePEM)
        let trust = try TLSClientContext(trustingPEM: caPEM)
        let thread = try LoopThread()
        let loop = thread.loop
        let client = Client()
        let (tls, server, port) = try await loop.submit { [config] in
            let tls = try ServerTLS.start(loop: loop, config: config, certificate: aging)
            let server = try WireServer(
                loop: loop, address: config.listen, tls: tls.wireSettings(policy: false),
                http1: { _, responder in responder.send(HTTPResponse(status: 200, body: Array("ok".utf8))) },
                // The client offers ALPN h2 only: its bytes come here; each read is answered "ok".
                http2: { socket, _ in
                    try? socket.startReading { event in
                        if case .data = event { socket.write(Array("ok".utf8)) } else { socket.close() }
                    }
                })
            return (LoopBound(tls, loop: loop), LoopBound(server, loop: loop), server.address.port)
        }
        let address = SocketAddress(host: "127.0.0.1", port: port)
        let opened: Result<Void, TLSError> = try await loop.submitAsync { finish in
            TCPConnection.connect(loop: loop, to: address) { connected in
                guard case .success(let socket) = connected else { return finish(.failure(TLSError("connect"))) }
                TLSStream.connect(socket, context: trust, host: "127.0.0.1", timeoutMillis: 5000) { handshake in
                    switch handshake {
                    case .failure(let error): finish(.failure(error))
                    case .success(let stream):
                        client.stream = stream
                        do {
                            try stream.startReading { event in
                                if case .data(let bytes) = event { client.received += bytes }
                            }
                            finish(.success(()))
                        } catch {
                            finish(.failure(TLSError("read: \(error)")))
                        }
                    }
                }
            }
        }
        try opened.get()
        let before = try await loop.submit { tls.wrapped.servedChainPEM }
        #expect(before == aging.chainPEM)

        let renewed: Bool = try await loop.submitAsync { finish in
            tls.wrapped.checkRenewal(loop: loop) { finish($0) }
        }
        #expect(renewed)
        let after = try await loop.submit { tls.wrapped.servedChainPEM }
        #expect(after != before)

        // A new connection gets the new certificate; it verifies under the same CA.
        let caFile = base.appendingPathComponent("ca.crt")
        try Data(caPEM).write(to: caFile)
        let fresh = try runCommand(
            [
                "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", caFile.path, "-verify_return_error",
                "-showcerts",
            ], timeout: 30)
        #expect(fresh.status == 0, "\(fresh.stderr)")
        let leaf = try #require(fresh.stdout.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first)
        #expect(String(decoding: after, as: UTF8.self).contains(String(leaf.prefix(200))), "the new leaf is served")

        // The connection opened before the renewal still answers.
        try await loop.submit {
            client.stream?.write(Array("after the renewal".utf8))
        }
        var answered = false
        for _ in 0..<250 where !answered {
            answered = try await loop.submit { String(decoding: client.received, as: UTF8.self).hasSuffix("ok") }
            if !answered { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(answered, "the open connection kept serving after the renewal")
        try await loop.submit {
            client.stream?.close()
            tls.wrapped.close()
            server.wrapped.close()
        }
    }
}
