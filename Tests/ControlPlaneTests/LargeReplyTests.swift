import ClusterTestSupport
import Foundation
import OrchionProto
import TestSupport
import Testing

/// Replies of several megabytes over gRPC, with a stock client.
@Suite(.serialized) struct LargeReplyTests {
    /// Found by attack (fixed in the wire's HTTP/2 read backpressure): a
    /// ListNodes reply of about 6 MB never reached grpcurl (Go) or grpcio clients that
    /// allowed it; after 30 s the server reset the stream (grpcio:
    /// RST_STREAM code 8; grpcurl: "unexpected EOF"), while REST served the
    /// same listing at once. ListNodes has no pagination, so a cluster of
    /// some thousands of labelled nodes has such a listing. Cause:
    /// HTTP2Connection.applyReadBackpressure counts the reply waiting in the
    /// stream buffer for the peer's flow-control window as unsent output;
    /// over `maxUnsentOutputBytes` (1 MiB) it stopped reading the socket, so
    /// the WINDOW_UPDATE frames that would let the reply out were never read.
    /// With wire.max_unsent_output_bytes = 64 MiB the same call takes 0.7 s.
    @Test func aSixMegabyteNodeListingReachesAStockGRPCClient() async throws {
        let cluster = try await Cluster()
        let labels = Dictionary(
            uniqueKeysWithValues: (0..<256).map { ("label-\($0)", String(repeating: "v", count: 900)) })
        for index in 0..<25 {
            let agent = try await TestAgent(
                "labelled-\(index)", server: cluster.server.address, loop: cluster.thread.loop, labels: labels,
                heartbeatEvery: nil)
            try await eventually("labelled-\(index) registered") { agent.received.registered != nil }
            await agent.disconnect()
        }
        let rest = try cluster.restGet("/v1/nodes")
        #expect(rest.status == 200 && rest.body.utf8.count > 5 << 20, "\(rest.status), \(rest.body.utf8.count) bytes")
        let grpcurl = try runCommand(
            [
                Paths.root.appendingPathComponent(".venv/bin/grpcurl").path, "-plaintext", "-max-time", "20",
                "-max-msg-sz", String(64 << 20), "-protoset",
                Paths.root.appendingPathComponent("sdk/proto/orchion.protoset").path, "-H",
                "authorization: Bearer \(ServerProcess.clientToken)", "127.0.0.1:\(cluster.server.port)",
                "orchion.v1.ControlService/ListNodes",
            ], timeout: 60)
        #expect(grpcurl.status == 0, "\(grpcurl.stderr)")
        #expect(grpcurl.stdout.contains("labelled-24"))
        await cluster.close()
    }
}
