import ClusterTestSupport
import Foundation
import TestSupport
import Testing

/// The dashboard in a real browser (headless chromium through Selenium)
/// against a real `orchion server` with two real agents. Each scenario
/// saves a screenshot under `BrowserScenario.artifacts`.
@Suite(.serialized) struct DashboardBrowserTests {
    /// A server and agents n1 and n2, both ready.
    func cluster() async throws -> (ServerProcess, [DashboardAgent]) {
        let server = try ServerProcess(arguments: ["--default-strategy", "spread"])
        let agents = try ["n1", "n2"].map { try DashboardAgent($0, server: server) }
        try await eventually("two ready nodes", timeout: 30) {
            let nodes = try curl(server, "/v1/nodes")
            return nodes.components(separatedBy: "NODE_STATE_READY").count == 3
        }
        return (server, agents)
    }

    @Test func signInRefusesAWrongTokenThenShowsNodesWithHardwareAndTelemetry() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        _ = agents
        try BrowserScenario(name: "sign-in-and-nodes", server: server).run()
    }

    @Test func aJobSubmittedFromTheFormGoesPendingRunningSucceededWithLiveOutput() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        _ = agents
        try BrowserScenario(name: "submit-and-follow", server: server).run()
    }

    @Test func cancellingARunningJobFromItsPage() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        _ = agents
        try BrowserScenario(name: "cancel-running", server: server).run()
    }

    @Test func aJobThatFitsNowhereShowsWhyItIsPendingAndTheDefaultStrategySwitches() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        _ = agents
        try BrowserScenario(name: "why-pending", server: server).run { action, arguments in
            // The server itself says the page's switch took.
            let scheduler = try curl(server, "/v1/scheduler")
            guard action == "expect-default", scheduler.contains("\"defaultStrategy\":\"\(arguments.first ?? "")\"")
            else { throw HarnessError("expected default \(arguments), found \(scheduler)") }
        }
    }

    @Test func aReadTokenCanLookButItsSubmitCancelAndStrategySwitchAreRefusedNamingTheScope() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        _ = agents
        _ = try curl(server, "/v1/jobs", ["-d", #"{"spec":{"command":"sleep 60","name":"admins"}}"#])
        let created = try curl(server, "/v1/tokens", ["-d", #"{"name":"viewer","scope":"read"}"#])
        let object = try JSONSerialization.jsonObject(with: Data(created.utf8)) as? [String: Any]
        let secret = try #require(object?["secret"] as? String)
        try BrowserScenario(name: "read-token", url: "http://127.0.0.1:\(server.port)", token: secret).run()
    }

    @Test func aKilledAgentsNodeGoesSuspectThenDown() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        try BrowserScenario(name: "node-goes-down", server: server).run { action, arguments in
            guard action == "kill-agent", let agent = agents.first(where: { $0.nodeID == arguments.first }) else {
                throw HarnessError("unexpected action \(action) \(arguments)")
            }
            agent.kill()
        }
    }

    @Test func afterAServerRestartThePageReconnectsAndCatchesUp() async throws {
        let (server, agents) = try await cluster()
        defer { server.remove() }
        _ = agents
        try BrowserScenario(name: "server-restart", server: server, timeout: 90).run { action, arguments in
            switch action {
            case "stop-server": server.crash()
            case "start-server": try server.restart()
            case "submit":
                let name = arguments.first ?? "job"
                let body = #"{"spec":{"name":"\#(name)","command":"echo \#(name)"}}"#
                _ = try curl(server, "/v1/jobs", ["-X", "POST", "-d", body])
            default: throw HarnessError("unexpected action \(action)")
            }
        }
    }
}

/// `curl -sf` of an API path with the test token; the body.
func curl(_ server: ServerProcess, _ path: String, _ arguments: [String] = []) throws -> String {
    let result = try runCommand(
        ["curl", "-sf", "-H", "Authorization: Bearer \(ServerProcess.clientToken)"] + arguments
            + ["http://127.0.0.1:\(server.port)\(path)"], timeout: 20)
    guard result.status == 0 else { throw HarnessError("curl \(path): exit \(result.status) \(result.stderr)") }
    return result.stdout
}
