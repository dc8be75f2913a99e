import OrchionLoop
import OrchionServer
import Testing

/// The join command `orchion up` prints and `orchion token create --join` answers.
struct JoinCommandTests {
    @Test func itCarriesTheTokenTheAddressAndHowToTrustTheServer() {
        let tls = JoinCommand(listening: SocketAddress(host: "192.168.1.10", port: 7420), caHash: "sha256:ab")
        #expect(tls.hosts == ["192.168.1.10"])
        #expect(
            tls.line(token: "s3cret")
                == "ORCHION_JOIN_TOKEN=s3cret orchion agent run --server 192.168.1.10:7420 --ca-hash sha256:ab")
        // Plaintext beyond loopback (allowed explicitly on the server): the agent must be told too.
        let plain = JoinCommand(listening: SocketAddress(host: "10.0.0.2", port: 7420), caHash: nil)
        #expect(plain.line(token: "t").hasSuffix("--server 10.0.0.2:7420 --plaintext"))
        let local = JoinCommand(listening: SocketAddress(host: "127.0.0.1", port: 7420), caHash: nil)
        #expect(local.line(token: "t").hasSuffix("--server 127.0.0.1:7420"))
        let v6 = JoinCommand(listening: SocketAddress(host: "fd00::2", port: 7420), caHash: "sha256:ab")
        #expect(v6.line(token: "t").contains("--server [fd00::2]:7420 --ca-hash"))
    }
}
