import Foundation
import TestSupport
import Testing

/// `systemd-analyze`, from the `systemd` package (.ci/setup installs it), or
/// nil when this machine has none.
private let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// The shipped units, `deploy/systemd/*.service`.
@Suite struct UnitFileTests {
    static let units = ["orchion-agent.service", "orchion-server.service"]

    /// Copies the units into a temp dir with `ExecStart` pointing at the
    /// built `orchion` (verify checks the program exists), `extra` appended
    /// to the [Service] section of each, and runs `systemd-analyze verify`
    /// on them: its status and everything it printed.
    private func verify(extra: String = "") throws -> (status: Int32, output: String) {
        let analyze = try #require(systemdAnalyze)
        let directory = try Paths.temporaryDirectory("orchion-units")
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for unit in Self.units {
            var text = try String(
                contentsOf: Paths.root.appendingPathComponent("deploy/systemd/\(unit)"), encoding: .utf8)
            #expect(text.contains("ExecStart=/usr/local/bin/orchion "), "\(unit) starts the installed orchion")
            text = text.replacingOccurrences(of: "/usr/local/bin/orchion ", with: Paths.orchion + " ")
            if !extra.isEmpty { text = text.replacingOccurrences(of: "[Install]", with: extra + "\n[Install]") }
            let path = directory.appendingPathComponent(unit).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let result = try runCommand([analyze, "verify"] + paths, timeout: 60)
        return (result.status, result.stdout + result.stderr)
    }

    @Test(.enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (Debian package systemd)"))
    func bothUnitsPassSystemdAnalyzeVerifyWithNoWarning() throws {
        let result = try verify()
        #expect(result.status == 0)
        #expect(result.output == "", "systemd-analyze verify printed: \(result.output)")
    }

    /// The check above could pass by printing nothing at all: an unknown key
    /// must be reported, so silence means the units are clean.
    @Test(.enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (Debian package systemd)"))
    func verifyReportsAnUnknownKeyInEitherUnit() throws {
        let result = try verify(extra: "NoSuchOrchionKey=1")
        for unit in Self.units {
            #expect(
                result.output.contains("\(unit):") && result.output.contains("NoSuchOrchionKey"),
                "expected a warning for \(unit), found: \(result.output)")
        }
    }

    /// `deploy/install.sh` into a temp prefix, from this build: the units
    /// land in `<prefix>/lib/systemd/system` starting `<prefix>/bin/orchion`,
    /// and verify cleanly as installed.
    @Test(.enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (Debian package systemd)"))
    func installShInstallsUnitsStartingTheInstalledBinary() throws {
        let analyze = try #require(systemdAnalyze)
        let prefix = try Paths.temporaryDirectory("orchion-install")
        defer { try? FileManager.default.removeItem(at: prefix) }
        let install = try runCommand(
            [
                "/bin/bash", Paths.root.appendingPathComponent("deploy/install.sh").path, "--prefix", prefix.path,
                "--build-dir", Paths.build.path,
            ], timeout: 120)
        #expect(install.status == 0, "\(install.stderr)")
        let unitDirectory = prefix.appendingPathComponent("lib/systemd/system")
        var paths: [String] = []
        for unit in Self.units {
            let path = unitDirectory.appendingPathComponent(unit).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let command = unit == "orchion-agent.service" ? "agent run" : "server"
            #expect(text.contains("\nExecStart=\(prefix.path)/bin/orchion \(command)\n"), "\(unit): \(text)")
            #expect(!text.contains("/usr/local/bin"))
            paths.append(path)
        }
        let result = try runCommand([analyze, "verify"] + paths, timeout: 60)
        #expect(result.status == 0)
        #expect(result.stdout + result.stderr == "", "systemd-analyze verify printed: \(result.stdout)\(result.stderr)")
    }

    @Test func theAgentUnitNotifiesWatchdogsAndOwnsItsCgroupSubtree() throws {
        let lines = try Self.settings("orchion-agent.service")
        for setting in [
            "Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=on-failure",
            "StateDirectory=orchion-agent", "Delegate=yes", "KillMode=process", "ProtectSystem=full",
            // A removed node's agent exits 77 (AgentProcess.refusedExitStatus): not restarted in a loop.
            "RestartPreventExitStatus=77",
        ] {
            #expect(lines.contains(setting), "orchion-agent.service lacks \(setting)")
        }
        let line = try #require(lines.first { $0.hasPrefix("CapabilityBoundingSet=") })
        let capabilities = line.dropFirst("CapabilityBoundingSet=".count).split(separator: " ")
        for capability in ["CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE"] {
            #expect(capabilities.contains { $0 == capability }, "the agent's bounding set lacks \(capability)")
        }
        // Each of these would take from the agent what it needs to manage
        // job cgroups, reach GPUs, or run jobs as other users.
        for forbidden in [
            "ProtectControlGroups=", "ProtectKernelTunables=", "PrivateDevices=", "DevicePolicy=", "DeviceAllow=",
            "ProtectClock=", "NoNewPrivileges=", "User=", "DynamicUser=",
        ] {
            #expect(!lines.contains { $0.hasPrefix(forbidden) }, "orchion-agent.service sets \(forbidden)")
        }
    }

    @Test func theServerUnitRunsUnprivilegedInAStrictSandbox() throws {
        let lines = try Self.settings("orchion-server.service")
        for setting in [
            "DynamicUser=yes", "User=orchion", "StateDirectory=orchion", "ProtectSystem=strict", "NoNewPrivileges=yes",
            "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "Restart=on-failure",
        ] {
            #expect(lines.contains(setting), "orchion-server.service lacks \(setting)")
        }
    }

    /// The unit's settings, one `Key=value` a line, comments and sections left out.
    private static func settings(_ unit: String) throws -> [String] {
        try String(contentsOf: Paths.root.appendingPathComponent("deploy/systemd/\(unit)"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("#") && !$0.hasPrefix("[") && $0.contains("=") }
    }
}
