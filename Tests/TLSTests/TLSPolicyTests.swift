import OrchionLoop
import OrchionServer
import OrchionWire
import Testing

/// The rule that decides between TLS and plaintext (`TLSPolicy.decide`).
@Suite struct TLSPolicyTests {
    private func decide(_ host: String, _ mode: ServerConfig.TLSMode, allow: Bool = false) -> Result<
        TLSPolicy, TLSPolicy.Refusal
    > {
        var settings = ServerConfig.TLSSettings()
        settings.mode = mode
        settings.allowPlaintextBeyondLoopback = allow
        return TLSPolicy.decide(listen: SocketAddress(host: host, port: 7420), tls: settings)
    }

    @Test func autoIsTLSBeyondLoopbackAndPlaintextOnIt() throws {
        #expect(try decide("0.0.0.0", .auto).get() == .tls(plaintextBeyondLoopback: false))
        #expect(try decide("192.168.1.5", .auto).get() == .tls(plaintextBeyondLoopback: false))
        #expect(try decide("::", .auto).get() == .tls(plaintextBeyondLoopback: false))
        #expect(try decide("127.0.0.1", .auto).get() == .plaintext)
        #expect(try decide("::1", .auto).get() == .plaintext)
    }

    @Test func plaintextBeyondLoopbackIsRefusedWithoutTheExplicitKey() throws {
        guard case .failure(let refusal) = decide("0.0.0.0", .off) else {
            Issue.record("tls.mode off on 0.0.0.0 was accepted")
            return
        }
        #expect(refusal.key == "tls.mode")
        #expect(refusal.message.contains("tls.allow_plaintext_beyond_loopback"))
        #expect(try decide("0.0.0.0", .off, allow: true).get() == .plaintext)
        #expect(try decide("127.0.0.1", .off).get() == .plaintext)
        #expect(try decide("0.0.0.0", .auto, allow: true).get() == .tls(plaintextBeyondLoopback: true))
        #expect(try decide("127.0.0.1", .on).get() == .tls(plaintextBeyondLoopback: false))
    }

    @Test func aCertificateFileNeedsItsKeyFile() {
        var settings = ServerConfig.TLSSettings()
        settings.certificateFile = "server.crt"
        guard
            case .failure(let refusal) = TLSPolicy.decide(
                listen: SocketAddress(host: "0.0.0.0", port: 1), tls: settings)
        else {
            Issue.record("a certificate without a key was accepted")
            return
        }
        #expect(refusal.key == "tls.key_file")
    }

    @Test func loopbackPeersAreTheOnesThatMaySkipTLS() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            #expect(WireTLS.isLoopback(host), "\(host)")
        }
        for host in ["10.0.0.1", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1", "0.0.0.0", "::"] {
            #expect(!WireTLS.isLoopback(host), "\(host)")
        }
    }

    @Test func caHashesReadAndWriteInKubeadmForm() throws {
        let text = "sha256:" + String(repeating: "0a", count: 32)
        let hash = try #require(SPKIHash(text))
        #expect(hash.description == text)
        #expect(SPKIHash(String(repeating: "0a", count: 32)) == hash)
        #expect(SPKIHash("sha256:abc") == nil)
        #expect(SPKIHash("sha256:" + String(repeating: "zz", count: 32)) == nil)
        // Found by attack: a two-byte character or CRLF made the count odd and trapped; a sign was accepted.
        let almost = "sha256:" + String(repeating: "0a", count: 31)
        #expect(SPKIHash(almost + "\u{E9}") == nil)
        #expect(SPKIHash(almost + "\r\n") == nil)
        #expect(SPKIHash("sha256:+f" + String(repeating: "0a", count: 31)) == nil)
        #expect(SPKIHash("sha256:" + String(repeating: "0A", count: 32)) == hash)
    }
}
