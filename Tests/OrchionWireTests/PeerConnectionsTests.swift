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
}
