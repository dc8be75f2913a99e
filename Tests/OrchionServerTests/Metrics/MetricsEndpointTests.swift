import Foundation
import OrchionLoop
import OrchionProto
import OrchionServer
import OrchionWire
import TestSupport
import Testing

/// `GET /metrics` on a real APIServer on 127.0.0.1, read with curl and
/// checked with promtool.
@Suite struct MetricsEndpointTests {
    static let clientToken = "metrics-client-token-0123"

    @Test(
        .enabled(
            if: MetricsTests.hasPromtool, "promtool is not on PATH (install Debian's prometheus package: .ci/setup)"))
    func metricsAreServedWithoutATokenAndPassPromtool() async throws {
        let metrics = try ServerMetrics()
        metrics.heartbeats.add(7)
        metrics.nodes(.ready).set(2)
        let server = try await MetricsServer(metrics: metrics, requireToken: false)
        do {
            let reply = try server.curl(["-i", "\(server.base)/metrics"], token: nil)
            #expect(reply.stdout.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(reply.stdout)\(reply.stderr)")
            #expect(reply.stdout.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
            let body = try server.curl(["\(server.base)/metrics"], token: nil).stdout
            #expect(body.contains("\norchion_heartbeats_total 7\n"))
            #expect(body.contains("\norchion_nodes{state=\"ready\"} 2\n"))
            let check = try promtoolCheck(body)
            #expect(check.status == 0, "promtool: \(check.stdout)\(check.stderr)")

            let head = try server.curl(["-sS", "-I", "\(server.base)/metrics"], token: nil).stdout
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
            // HEAD: the same head, no body.
            #expect(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
            #expect(head.contains("\r\nContent-Length: ") && head.hasSuffix("\r\n\r\n"))
            let post = try server.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "\(server.base)/metrics"], token: nil)
            #expect(post.stdout == "405")
            // Every other route still needs a token.
            let nodes = try server.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/v1/nodes"], token: nil)
            #expect(nodes.stdout == "401")
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    @Test func withTheSwitchOnMetricsNeedAClientToken() async throws {
        let metrics = try ServerMetrics()
        let server = try await MetricsServer(metrics: metrics, requireToken: true)
        do {
            let without = try server.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/metrics"], token: nil)
            #expect(without.stdout == "401")
            let wrong = try server.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/metrics"], token: "not-the-token")
            #expect(wrong.stdout == "401")
            let with = try server.curl(["\(server.base)/metrics"], token: Self.clientToken)
            #expect(with.stdout.contains("# TYPE orchion_heartbeats_total counter\n"))
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    @Test func withoutAProviderMetricsIsAnUnknownRoute() async throws {
        let server = try await MetricsServer(metrics: nil, requireToken: false)
        do {
            let without = try server.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/metrics"], token: nil)
            #expect(without.stdout == "401")
            let with = try server.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/metrics"], token: Self.clientToken)
            #expect(with.stdout == "404")
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }
}

/// A real APIServer on 127.0.0.1 (a free port), on its own loop thread,
/// serving `metrics` (if given) at /metrics.
private final class MetricsServer: @unchecked Sendable {
    let thread: LoopThread
    let port: UInt16
    private let server: LoopBound<WireServer>

    init(metrics: ServerMetrics?, requireToken: Bool) async throws {
        thread = try LoopThread()
        let loop = thread.loop
        let authenticator = Authenticator(
            joinToken: "join-token-for-metrics-0123", clientTokens: ["tests": MetricsEndpointTests.clientToken])
        var provider: (@Sendable () -> [UInt8])?
        if let registry = metrics?.registry { provider = { registry.renderBytes() } }
        let body = provider
        let started = try await loop.submit {
            let server = try APIServer.start(
                loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0), authenticator: authenticator,
                control: NoControl(), metrics: body, metricsRequireToken: requireToken)
            return (LoopBound(server, loop: loop), server.address.port)
        }
        server = started.0
        port = started.1
    }

    var base: String { "http://127.0.0.1:\(port)" }

    func curl(_ arguments: [String], token: String?) throws -> CommandResult {
        var command = ["curl", "-sS", "--max-time", "10"]
        if let token { command += ["-H", "Authorization: Bearer \(token)"] }
        return try runCommand(command + arguments, timeout: 20)
    }

    /// Closes the listener, waits (bounded) for connections to wind down,
    /// and shuts the loop down, failing if a handle is left open.
    func stop() async throws {
        let loop = thread.loop
        let server = self.server
        try await loop.submit { server.wrapped.close() }
        for _ in 0..<200 {
            if try await loop.submit({ loop.openHandleKinds().isEmpty }) { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        try thread.shutdown()
    }
}
