import Glibc
import OrchionAgent
import Testing

@testable import OrchionAgentDaemon

/// The one command line of `orchion agent run` and `orchion-agent`.
struct AgentCommandLineTests {
    @Test func everyOptionLandsInItsFieldAndJobsAreStoppedOnExitUnlessLeftRunning() throws {
        let parsed = try AgentCommandLine.parse([
            "--server", "10.0.0.5:7420", "--join-token-file=/etc/orchion/join.token", "--node-id", "pi-1",
            "--label", "role=sensor", "--label=zone=garage", "--plugins-dir", "/opt/p", "--state-dir", "/var/lib/a",
            "--ca-cert", "/etc/orchion/ca.crt", "--ca-hash=sha256:00ff",
        ])
        var expected = AgentFlags()
        expected.server = "10.0.0.5:7420"
        expected.joinTokenFile = "/etc/orchion/join.token"
        expected.nodeID = "pi-1"
        expected.labels = ["role=sensor", "zone=garage"]
        expected.pluginDirectories = ["/opt/p"]
        expected.stateDirectory = "/var/lib/a"
        expected.caCertificateFile = "/etc/orchion/ca.crt"
        expected.caHash = "sha256:00ff"
        #expect(parsed == .run(expected))
        #expect(expected.stopJobsOnExit)
        guard case .run(let leaving) = try AgentCommandLine.parse(["--leave-jobs-running"]) else {
            Issue.record("--leave-jobs-running is not a run")
            return
        }
        #expect(!leaving.stopJobsOnExit)
        #expect(try AgentCommandLine.parse(["--stop-jobs-on-exit"]) == .run(AgentFlags()))
        #expect(try AgentCommandLine.parse(["--server", "x:1", "--help"]) == .help)
    }

    @Test func theJobUserFlagsBecomeThePolicyAndTheWorkDirectoryDefaultsUnderTMPDIR() throws {
        guard
            case .run(let flags) = try AgentCommandLine.parse([
                "--join-token-file", "/t", "--job-user", "runner", "--allow-job-user", "alice",
                "--allow-job-user=bob", "--allow-root-jobs",
            ])
        else {
            Issue.record("not a run")
            return
        }
        #expect(flags.jobUser == "runner" && flags.allowedJobUsers == ["alice", "bob"] && flags.allowRootJobs)
        var plain = AgentFlags()
        plain.nodeID = "n1"
        plain.stateDirectory = "/var/lib/a"
        let environment = ["ORCHION_JOIN_TOKEN": "t", "TMPDIR": "/scratch/"]
        let defaults = try AgentSettings.resolve(plain, environment: environment)
        #expect(defaults.jobUsers == JobUserPolicy(defaultUser: "nobody", allowedUsers: [], allowRoot: false))
        #expect(defaults.workDirectory == (geteuid() == 0 ? "/var/lib/orchion-jobs/n1" : "/var/lib/a/work"))
        var custom = plain
        custom.jobUser = "runner"
        custom.allowedJobUsers = ["alice"]
        custom.workDirectory = "relative"
        #expect(
            throws: AgentSettingsError.invalid("--work-dir", expected: "an absolute directory path", found: "relative")
        ) {
            try AgentSettings.resolve(custom, environment: environment)
        }
        custom.workDirectory = nil
        let resolved = try AgentSettings.resolve(
            custom, environment: environment.merging(["ORCHION_AGENT_WORK_DIR": "/w"]) { $1 })
        #expect(resolved.jobUsers == JobUserPolicy(defaultUser: "runner", allowedUsers: ["alice"], allowRoot: false))
        #expect(resolved.workDirectory == "/w")
    }

    @Test func anUnknownOptionOrAMissingValueIsRefusedNamingIt() {
        #expect(throws: AgentSettingsError.self) { try AgentCommandLine.parse(["--sever", "x:1"]) }
        #expect(throws: AgentSettingsError.self) { try AgentCommandLine.parse(["--ca-hash"]) }
        do {
            _ = try AgentCommandLine.parse(["--sever", "x:1"])
        } catch {
            #expect("\(error)".contains("--sever"))
        }
    }
}
