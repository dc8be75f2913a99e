import Foundation
import OrchionWire
import TestSupport
import Testing

/// gRPC over HTTP/2 with stock clients: Python's grpcio with stubs generated
/// from sdk/proto, and grpcurl with the committed descriptor set.
@Suite(.serialized) struct GRPCTests {
    private static let python = PythonGRPC.python
    private static let stubs = PythonGRPC.stubs

    private func client(_ fixture: WireFixture, _ scenario: String, _ extra: [String] = []) throws -> [String: Any] {
        let result = try runCommand(
            [
                Self.python, Paths.root.appendingPathComponent("Tests/Fixtures/grpc_client.py").path,
                try Self.stubs.get(),
                String(fixture.port), WireFixture.clientToken, WireFixture.joinToken, scenario,
            ] + extra, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    private func code(_ value: Any?) -> String? { (value as? [String: Any])?["code"] as? String }

    private func details(_ value: Any?) -> String? { (value as? [String: Any])?["details"] as? String }

    @Test func unaryCallsStatusesAndAuth() async throws {
        let fixture = try await WireFixture()
        let result = try client(fixture, "unary")
        #expect(result["nodes"] as? [String] == ["n1"])
        #expect(result["job"] as? [String] == ["job-1", "JOB_STATE_PENDING"])
        #expect(code(result["missing"]) == "NOT_FOUND" && details(result["missing"]) == "node nope not found")
        #expect(code(result["invalid"]) == "INVALID_ARGUMENT")
        #expect(code(result["anonymous"]) == "UNAUTHENTICATED")
        #expect(details(result["wrong"]) == "invalid bearer token")
        #expect(code(result["agent_on_control"]) == "PERMISSION_DENIED")
        #expect(result["plugins"] as? [String] == ["bin-packing"])
        try await fixture.stop()
    }

    @Test func serverStreamingCancellationAndDeadlines() async throws {
        let fixture = try await WireFixture()
        let result = try client(fixture, "streaming")
        #expect(result["logs"] as? [String] == ["one\n", "two\n", "three\n"])
        #expect(result["events"] as? [Int] == [10, 11, 12, 13, 14])
        #expect(code(result["deadline"]) == "DEADLINE_EXCEEDED")
        #expect(code(result["missing_logs"]) == "NOT_FOUND")
        #expect(try await fixture.cancelledStreams(reaching: 2) == 2, "cancel and deadline both reach the handler")
        try await fixture.stop()
    }

    @Test func bidirectionalAgentStream() async throws {
        let fixture = try await WireFixture()
        let result = try client(fixture, "bidi")
        #expect(result["replies"] as? [String] == ["registered:pi-7", "config:1", "config:2", "config:3"])
        #expect(code(result["client_on_agent"]) == "PERMISSION_DENIED")
        #expect(code(result["heartbeat_first"]) == "FAILED_PRECONDITION")
        try await fixture.stop()
    }

    @Test func oversizedMessagesAreRefusedAndTheConnectionKeepsServing() async throws {
        var limits = WireLimits()
        limits.maxBodyBytes = 64 << 10
        let fixture = try await WireFixture(limits: limits)
        let result = try client(fixture, "large", ["200000"])
        #expect(code(result["too_big"]) == "RESOURCE_EXHAUSTED")
        #expect(result["after"] as? [String] == ["n1"])
        try await fixture.stop()
    }

    @Test func concurrentStreamsOnOneConnection() async throws {
        let fixture = try await WireFixture()
        let result = try client(fixture, "concurrent")
        #expect(result["errors"] as? [String] == [])
        try await fixture.stop()
    }

    @Test func grpcurlWithTheDescriptorSet() async throws {
        let fixture = try await WireFixture()
        let grpcurl = Paths.root.appendingPathComponent(".venv/bin/grpcurl").path
        let protoset = Paths.root.appendingPathComponent("sdk/proto/orchion.protoset").path
        let list = try runCommand([
            grpcurl, "-plaintext", "-protoset", protoset, "-H", "authorization: Bearer \(WireFixture.clientToken)",
            "127.0.0.1:\(fixture.port)", "orchion.v1.ControlService/ListNodes",
        ])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("\"hostname\": \"pi-01\""))
        let denied = try runCommand([
            grpcurl, "-plaintext", "-protoset", protoset, "127.0.0.1:\(fixture.port)",
            "orchion.v1.ControlService/ListNodes",
        ])
        #expect(denied.status != 0 && denied.stderr.contains("Code: Unauthenticated"))
        try await fixture.stop()
    }
}
