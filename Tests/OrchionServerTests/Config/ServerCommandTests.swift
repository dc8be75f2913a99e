import Foundation
import OrchionServer
import TestSupport
import Testing

/// `orchion server` as a real process: the built binary.
@Suite struct ServerCommandTests {
    /// This process's environment without `ORCHION_*` variables, with
    /// `HOME` at `home` and `extra` added.
    private func environment(home: String, _ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
            .merging(["HOME": home]) { $1 }.merging(extra) { $1 }
    }

    private func orchion(_ arguments: [String], environment: [String: String]) throws -> CommandResult {
        try runCommand([Paths.orchion] + arguments, environment: environment, timeout: 60)
    }

    @Test func printConfigShowsTheEffectiveValuesAndTokenFilesButNoToken() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let state = scratch.directory.path + "/state"
        try FileManager.default.createDirectory(
            atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let fileSecret = "f11e5ec7e7f11e5ec7e7f11e5ec7e7"
        let clientSecret = "c11e47c11e47c11e47c11e47c11e47"
        let environmentSecret = "e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4"
        try fileSecret.write(toFile: state + "/join.token", atomically: false, encoding: .utf8)
        try "alice \(clientSecret)\n".write(toFile: state + "/client.tokens", atomically: false, encoding: .utf8)
        for name in ["join.token", "client.tokens"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: state + "/" + name)
        }
        let file = try scratch.file("heartbeat:\n  min_interval: 5s\nscheduler:\n  batch_size: 64\n")
        let result = try orchion(
            [
                "server", "--print-config", "--config", file, "--state-dir", state, "--listen", "0.0.0.0:7421",
                "--plugins-dir", "/srv/plugins", "--log-level", "debug", "--set", "scheduler.batch_size=9",
            ],
            environment: environment(
                home: scratch.directory.path,
                ["ORCHION_DEFAULT_STRATEGY": "spread", "ORCHION_JOIN_TOKEN": environmentSecret]))
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        for expected in [
            "listen: \"0.0.0.0:7421\"  # flag --listen",
            "state_directory: \"\(state)\"  # flag --state-dir",
            "  - \"/srv/plugins\"",
            "log_level: debug  # flag --log-level",
            "  default_strategy: \"spread\"  # environment variable ORCHION_DEFAULT_STRATEGY",
            "  batch_size: 9  # flag --set",
            "  min_interval: 5s  # \(file):2:17",
            "  join_token_file: \"\(state)/join.token\"",
            "  client_tokens_file: \"\(state)/client.tokens\"",
            "  # the join token comes from ORCHION_JOIN_TOKEN, not from join_token_file",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)\n\(result.stdout)")
        }
        #expect(
            result.stderr
                == "warning: listening on 0.0.0.0:7421: reachable from other machines\nwarning: the join token comes from ORCHION_JOIN_TOKEN, not from \(state)/join.token\n"
        )
        for secret in [fileSecret, clientSecret, environmentSecret] {
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret))
        }
    }

    @Test func printConfigCreatesNoTokenFile() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let state = scratch.directory.path + "/fresh"
        let result = try orchion(
            ["server", "--print-config"],
            environment: environment(home: scratch.directory.path, ["ORCHION_STATE_DIR": state]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("join_token_file: \"\(state)/join.token\""))
        #expect(!FileManager.default.fileExists(atPath: state))
    }

    @Test func aBadConfigurationExitsWithTheErrorOnStandardError() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file("scheduler:\n  default_stratgy: spread\n")
        let home = scratch.directory.path
        let unknown = try orchion(["server", "--print-config", "--config", file], environment: environment(home: home))
        #expect(unknown.status == 2)
        #expect(
            unknown.stderr
                == "orchion server: \(file):2:3: unknown key 'scheduler.default_stratgy'; did you mean 'scheduler.default_strategy'?\n"
        )
        #expect(unknown.stdout.isEmpty)
        let fromVariable = try orchion(
            ["server", "--print-config"], environment: environment(home: home, ["ORCHION_CONFIG": file]))
        #expect(fromVariable.status == 2 && fromVariable.stderr == unknown.stderr, "ORCHION_CONFIG names the file")
        let variable = try orchion(
            ["server", "--print-config"], environment: environment(home: home, ["ORCHION_HEARTBEAT_JITER": "0.1"]))
        #expect(variable.status == 2)
        #expect(
            variable.stderr
                == "orchion server: environment variable ORCHION_HEARTBEAT_JITER: not a setting of orchion server; did you mean ORCHION_HEARTBEAT_JITTER?\n"
        )
        let flag = try orchion(
            ["server", "--print-config", "--listen", "example.com:80"], environment: environment(home: home))
        #expect(flag.status == 2)
        #expect(
            flag.stderr
                == "orchion server: flag --listen: listen: expected an address such as 127.0.0.1:7420, [::1]:7420 or 0.0.0.0:7420, found 'example.com:80'\n"
        )
    }

    @Test func helpDocumentsEveryFlagEveryKeyAndItsVariable() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let result = try orchion(["server", "--help"], environment: environment(home: scratch.directory.path))
        #expect(result.status == 0)
        let words = Set(
            result.stdout.split(whereSeparator: { $0.isWhitespace || "(),;:".contains($0) }).map(String.init))
        for flag in [
            "--config", "--listen", "--state-dir", "--plugins-dir", "--default-strategy", "--log-level", "--set",
            "--print-config",
        ] {
            #expect(words.contains(flag), "\(flag) missing from --help")
        }
        for variable in [
            "ORCHION_CONFIG", "ORCHION_LISTEN", "ORCHION_STATE_DIR", "ORCHION_DEFAULT_STRATEGY", "ORCHION_LOG_LEVEL",
            "ORCHION_PLUGIN_DIRECTORIES", "ORCHION_JOIN_TOKEN",
        ] {
            #expect(words.contains(variable), "\(variable) missing from --help")
        }
        for key in ConfigKey.all {
            #expect(words.contains(key.name) && words.contains(key.environment), "\(key.name) missing from --help")
        }
    }
}
