import Testing

@testable import OrchionWire

/// One remote address may hold at most `limit` connections; loopback peers
/// (this machine's own processes) are not counted.
struct PeerConnectionsTests {
    @Test func anAddressAtItsLimitIsRefusedUntilOneOfItsConnectionsCloses() {
        var peers = PeerConnections(limit: 2)
        let admitted = ["192.168.1.50", "192.168.1.50", "192.168.1.50", "192.168.1.51", "fd00::7"].map {
            peers.admit($0)
        }
        #expect(admitted == [true, true, false, true, true])
        peers.release("192.168.1.50")
        let again = [peers.admit("192.168.1.50"), peers.admit("192.168.1.50")]
        #expect(again == [true, false])
        for host in ["192.168.1.50", "192.168.1.50", "192.168.1.51", "fd00::7"] { peers.release(host) }
        #expect(peers.peers == 0)
        peers.release("10.0.0.9")  // never admitted: nothing to forget
        #expect(peers.peers == 0)
    }

    @Test func loopbackAnUnknownPeerAndNoLimitAreNeverRefused() {
        var peers = PeerConnections(limit: 1)
        var answers: [Bool] = []
        for _ in 0..<10 { answers += [peers.admit("127.0.0.1"), peers.admit("::1"), peers.admit(nil)] }
        #expect(answers.allSatisfy { $0 })
        #expect(peers.peers == 0)
        var unbounded = PeerConnections(limit: 0)
        let open = (0..<10).map { _ in unbounded.admit("203.0.113.9") }
        #expect(open.allSatisfy { $0 })
    }

    /// Found by attack: one IPv6 host may use any address of its /64, so
    /// each counted alone escaped the bound; and peers filling the server
    /// from the network locked out its own local agent and CLI.
    @Test func anIPv6Slash64IsOnePeerAndTheLastSlotsAreKeptForLoopback() {
        var peers = PeerConnections(limit: 2)
        let admitted = ["2001:db8:1:2::5", "2001:db8:1:2:ffff::9", "2001:db8:1:2::7", "2001:db8:1:3::5"].map {
            peers.admit($0)
        }
        #expect(admitted == [true, true, false, true])
        #expect(peers.peers == 2)
        var limits = WireLimits()
        limits.maxConnections = 4096
        #expect(WireServer.room(loopback: true, limits) == 4096 && WireServer.room(loopback: false, limits) == 4032)
        limits.maxConnections = 2
        #expect(WireServer.room(loopback: false, limits) == 2, "too few to keep any")
    }
}
