import ClusterTestSupport
import Foundation
import TestSupport
import Testing

/// The real `orchion server` with `tls.mode: on` on 127.0.0.1, driven by
/// real TLS clients: curl, openssl s_client, Python's grpcio and the agent.
@Suite(.serialized) struct TLSServerTests {
    private static let python = Paths.root.appendingPathComponent(".venv/bin/python").path

    /// A TLS server and its CA certificate file and hash.
    private struct TLSServer {
        let server: ServerProcess
        var caFile: String { server.directory.appendingPathComponent("tls/ca.crt").path }
        let caHash: String

        init(arguments: [String] = []) throws {
            server = try ServerProcess(arguments: ["--set", "tls.mode=on"] + arguments)
            let line = try server.waitForLog("TLS on: CA hash ")
            guard let hash = line.split(separator: " ").first(where: { $0.hasPrefix("sha256:") }) else {
                throw HarnessError("no CA hash in '\(line)'")
            }
            caHash = String(hash.prefix { $0 != "," })
        }
    }

    private func curl(_ arguments: [String]) throws -> CommandResult {
        try runCommand(["curl", "-sS", "--max-time", "10"] + arguments, timeout: 30)
    }

    private func sClient(_ port: UInt16, _ arguments: [String]) throws -> CommandResult {
        try runCommand(
            ["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-verify_return_error"] + arguments,
            timeout: 30)
    }

    @Test func curlOverTLSWithTheClusterCAAndPlaintextStillServedToLoopback() throws {
        let tls = try TLSServer()
        defer { tls.server.remove() }
        let port = tls.server.port
        let health = try curl(["--cacert", tls.caFile, "-w", " %{http_version}", "https://localhost:\(port)/healthz"])
        #expect(health.status == 0, "\(health.stderr)")
        #expect(health.stdout == #"{"status":"SERVING"} 1.1"#)
        let nodes = try curl([
            "--cacert", tls.caFile, "-H", "Authorization: Bearer \(ServerProcess.clientToken)", "-w", " %{http_code}",
            "https://127.0.0.1:\(port)/v1/nodes",
        ])
        #expect(nodes.stdout.hasSuffix(" 200"), "\(nodes.stdout) \(nodes.stderr)")
        let untrusted = try curl(["https://localhost:\(port)/healthz"])
        #expect(untrusted.status == 60, "curl without the CA: \(untrusted.stderr)")  // peer certificate not verified
        let plaintext = try curl(["http://127.0.0.1:\(port)/healthz"])
        #expect(plaintext.stdout == #"{"status":"SERVING"}"#)
    }

    @Test func opensslSeesTLS13And12WithECDHEAEADOnlyAndALPN() throws {
        let tls = try TLSServer()
        defer { tls.server.remove() }
        let port = tls.server.port
        let weakOK = "DEFAULT:@SECLEVEL=0"  // the client would offer old protocols and suites: the server must refuse
        let v13 = try sClient(port, ["-CAfile", tls.caFile, "-tls1_3", "-brief"])
        #expect(v13.status == 0 && v13.stderr.contains("Protocol version: TLSv1.3"), "\(v13.stderr)")
        let v12 = try sClient(
            port, ["-CAfile", tls.caFile, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", "-brief"])
        #expect(v12.status == 0 && v12.stderr.contains("Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"), "\(v12.stderr)")
        let v11 = try sClient(port, ["-CAfile", tls.caFile, "-tls1_1", "-cipher", weakOK, "-brief"])
        #expect(v11.status != 0 && v11.stderr.contains("alert protocol version"), "\(v11.stderr)")
        for cipher in ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"] {
            let refused = try sClient(port, ["-CAfile", tls.caFile, "-tls1_2", "-cipher", cipher + ":@SECLEVEL=0"])
            #expect(refused.status != 0 && refused.stdout.contains("Cipher is (NONE)"), "\(cipher): \(refused.stdout)")
        }
        for (offer, chosen) in [("h2", "h2"), ("http/1.1", "http/1.1"), ("h2,http/1.1", "http/1.1")] {
            let alpn = try sClient(port, ["-CAfile", tls.caFile, "-alpn", offer])
            #expect(alpn.stdout.contains("ALPN protocol: \(chosen)"), "offered \(offer): \(alpn.stdout)")
        }
    }

    @Test func grpcioWithTheCAAsRootCertificate() throws {
        let tls = try TLSServer()
        defer { tls.server.remove() }
        let result = try runCommand(
            [
                Self.python, Paths.root.appendingPathComponent("Tests/Fixtures/tls_grpc_client.py").path,
                String(tls.server.port), tls.caFile, ServerProcess.clientToken,
            ], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let answer = try #require(object, "\(result.stdout)")
        #expect(answer["reply_bytes"] as? Int == 0, "ListNodes with no node is an empty message")
        #expect(answer["anonymous"] as? String == "UNAUTHENTICATED")
        #expect(answer["system_roots"] as? String == "UNAVAILABLE", "a client not trusting the CA is refused")
    }

    @Test func garbageAndStalledHandshakesAreCutOffWhileTheServerKeepsServing() throws {
        let tls = try TLSServer(arguments: ["--set", "tls.handshake_timeout=1s"])
        defer { tls.server.remove() }
        let port = tls.server.port
        let garbage = try RawSocket(port: port)
        garbage.send([0x16, 0x03, 0x01, 0x00, 0x05] + Array("not a client hello at all".utf8))
        let stalled = try RawSocket(port: port)
        let stalledAt = Date()
        stalled.send([0x16, 0x03, 0x01])
        let health = try curl(["--cacert", tls.caFile, "https://localhost:\(port)/healthz"])
        #expect(health.stdout == #"{"status":"SERVING"}"#, "served while a handshake stalls: \(health.stderr)")
        #expect(garbage.waitForClose(seconds: 5), "a garbage handshake is closed at once")
        #expect(stalled.waitForClose(seconds: 10), "a stalled handshake is closed")
        let waited = Date().timeIntervalSince(stalledAt)
        #expect(waited >= 0.9 && waited < 8, "closed after \(waited)s, expected about the 1s handshake timeout")
        let after = try curl(["--cacert", tls.caFile, "https://localhost:\(port)/healthz"])
        #expect(after.stdout == #"{"status":"SERVING"}"#)
        // Both show in /metrics (an attack is visible to whoever watches), beside the good handshakes.
        let metrics = try curl([
            "--cacert", tls.caFile, "-H", "Authorization: Bearer \(ServerProcess.clientToken)",
            "https://localhost:\(port)/metrics",
        ]).stdout
        #expect(metrics.contains("orchion_tls_handshake_failures_total 2"), "\(metrics)")
        #expect(metrics.contains("orchion_tls_handshakes_total 3"), "\(metrics)")
    }

    @Test func anAgentPinningAnotherCAIsRefusedAndOnePinningThisCAJoins() async throws {
        let tls = try TLSServer()
        defer { tls.server.remove() }
        let state = tls.server.directory.appendingPathComponent("agents")
        let wrong = "sha256:" + String(repeating: "ab", count: 32)
        let refused = try AgentProcess(
            id: "pinned-wrong", server: tls.server, state: state, arguments: ["--ca-hash", wrong])
        defer { refused.stop() }
        let message = try refused.waitForOutput("does not match the pinned CA hash")
        #expect(
            message.contains("expected \(wrong)") && message.contains("the server presented \(tls.caHash)"),
            "\(message)")
        let joined = try AgentProcess(
            id: "pinned-right", server: tls.server, state: state, arguments: ["--ca-hash", tls.caHash])
        defer { joined.stop() }
        try joined.waitForOutput("connected to 127.0.0.1:\(tls.server.port) as node pinned-right")
        let withFile = try AgentProcess(
            id: "ca-file", server: tls.server, state: state, arguments: ["--ca-cert", tls.caFile])
        defer { withFile.stop() }
        try withFile.waitForOutput("as node ca-file")
        let nodes = try curl([
            "--cacert", tls.caFile, "-H", "Authorization: Bearer \(ServerProcess.clientToken)",
            "https://localhost:\(tls.server.port)/v1/nodes",
        ])
        #expect(nodes.stdout.contains("pinned-right") && nodes.stdout.contains("ca-file"))
        #expect(!nodes.stdout.contains("pinned-wrong"))
    }

    @Test func theCLIVerifiesATLSServerWithTheClusterCAAndRefusesOneItCannotVerify() throws {
        let tls = try TLSServer()
        defer { tls.server.remove() }
        let empty = tls.server.directory.appendingPathComponent("no-state").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let base = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        func cli(_ arguments: [String], state: String) throws -> CommandResult {
            var environment = base
            environment["ORCHION_STATE_DIR"] = state
            environment["ORCHION_TOKEN"] = ServerProcess.clientToken
            return try runCommand([Paths.orchion, "node", "list", "-o", "json"] + arguments, environment: environment)
        }
        let https = "https://127.0.0.1:\(tls.server.port)"
        let named = try cli(["--server", https, "--ca-cert", tls.caFile], state: empty)
        #expect(named.status == 0, "\(named.stderr)")
        // The server's own state directory holds tls/ca.crt: nothing to pass.
        let saved = try cli(["--server", "https://localhost:\(tls.server.port)"], state: tls.server.directory.path)
        #expect(saved.status == 0, "\(saved.stderr)")
        let noCA = try cli(["--server", https], state: empty)
        #expect(noCA.status == 2 && noCA.stderr.contains("--ca-cert"), "\(noCA.stderr)")
        // Another CA (a self-signed one made here) does not verify the server.
        let other = tls.server.directory.appendingPathComponent("other-ca.crt").path
        let made = try runCommand([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            tls.server.directory.appendingPathComponent("other-ca.key").path, "-out", other, "-days", "1", "-subj",
            "/CN=another CA",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let wrong = try cli(["--server", https, "--ca-cert", other], state: empty)
        #expect(wrong.status == 3 && wrong.stderr.contains("did not verify"), "\(wrong.stderr)")
    }

    @Test func aBroughtCertificateAndKeyAreServedInsteadOfTheClusterCA() throws {
        let directory = try Paths.temporaryDirectory("orchion-byo")
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("server.crt").path
        let key = directory.appendingPathComponent("server.key").path
        let made = try runCommand(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", certificate,
            ], timeout: 60)
        #expect(made.status == 0, "\(made.stderr)")
        chmod(key, 0o600)
        let server = try ServerProcess(arguments: [
            "--set", "tls.mode=on", "--set", "tls.cert_file=\(certificate)", "--set", "tls.key_file=\(key)",
        ])
        defer { server.remove() }
        try server.waitForLog("TLS on: CA hash unknown")
        let health = try curl(["--cacert", certificate, "https://localhost:\(server.port)/healthz"])
        #expect(health.stdout == #"{"status":"SERVING"}"#, "\(health.stderr)")
        let rsa = try sClient(server.port, ["-CAfile", certificate, "-tls1_2", "-brief"])
        #expect(rsa.stderr.contains("Ciphersuite: ECDHE-RSA-"), "\(rsa.stderr)")
        let tlsDirectory = server.directory.appendingPathComponent("tls").path
        #expect(!FileManager.default.fileExists(atPath: tlsDirectory), "no cluster CA is made")
    }

    @Test func plaintextListeningBeyondLoopbackIsRefusedBeforeBinding() throws {
        let directory = try Paths.temporaryDirectory("orchion-tls-policy")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Refused while the configuration loads: nothing is ever bound to 0.0.0.0.
        let result = try runCommand(
            [Paths.orchion, "server", "--listen", "0.0.0.0:0", "--state-dir", directory.path, "--set", "tls.mode=off"],
            timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("without TLS"), "\(result.stderr)")
        #expect(result.stderr.contains("tls.allow_plaintext_beyond_loopback"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("orchion.db").path))
    }

    @Test func aServerWhoseCAKeyOthersMayReadRefusesToStartWithTheFix() throws {
        let tls = try TLSServer()
        tls.server.stop()
        defer { tls.server.remove() }
        let key = tls.server.directory.appendingPathComponent("tls/ca.key").path
        chmod(key, 0o640)
        let result = try runCommand(
            [
                Paths.orchion, "server", "--listen", "127.0.0.1:0", "--state-dir", tls.server.directory.path,
                "--set", "tls.mode=on",
            ], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("chmod 600 \(key)"), "\(result.stderr)")
        #expect(result.stderr.contains("group may read"), "\(result.stderr)")
    }
}

/// A blocking TCP socket to 127.0.0.1 for hand-made bytes.
private final class RawSocket {
    let descriptor: Int32

    init(port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard descriptor >= 0, connected == 0 else {
            close(descriptor)
            throw HarnessError("cannot connect to 127.0.0.1:\(port)")
        }
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) } }

    /// Reads (and drops) until the peer closes; false when it has not within `seconds`.
    func waitForClose(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { return false }
            guard poller.revents != 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return true }
        }
        return false
    }
}

/// A real `orchion agent run` against a test server, stopped by PID.
private final class AgentProcess: @unchecked Sendable {
    private let process = Process()
    private let log = LogBuffer()

    init(id: String, server: ServerProcess, state: URL, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Paths.orchion)
        process.arguments =
            [
                "agent", "run", "--server", "127.0.0.1:\(server.port)", "--node-id", id, "--join-token-file",
                server.directory.appendingPathComponent("join.token").path, "--state-dir",
                state.appendingPathComponent(id).path, "--work-dir",
                server.directory.appendingPathComponent("work-\(id)").path,
            ] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let log = self.log
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
    }

    /// Waits (bounded) for a line containing `text`; returns it.
    @discardableResult
    func waitForOutput(_ text: String, timeout: Double = 20) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = log.text.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            usleep(20_000)
        }
        throw HarnessError("no '\(text)' from the agent within \(timeout)s:\n\(log.text)")
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
    }
}
