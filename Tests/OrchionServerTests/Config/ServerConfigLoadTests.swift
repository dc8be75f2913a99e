import Foundation
import OrchionControl
import OrchionLoop
import OrchionPluginHost
import OrchionServer
import TestSupport
import Testing

/// A temporary directory with a config file in it, removed by `remove()`.
struct ConfigScratch {
    let directory: URL

    init() throws { directory = try Paths.temporaryDirectory("orchion-config") }

    /// Writes `text` as `name` and returns its path.
    func file(_ text: String, name: String = "server.yaml") throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Sources reading `file` (or a default file that does not exist), with
    /// `HOME` in this directory and `environment` added.
    func sources(
        file: String? = nil, environment: [String: String] = [:], flags: [ConfigOverride] = [],
        pluginFlagDirectories: [String] = []
    ) -> ConfigSources {
        ConfigSources(
            file: file, defaultFile: directory.appendingPathComponent("absent.yaml").path,
            environment: ["HOME": directory.path].merging(environment) { $1 }, flags: flags,
            pluginFlagDirectories: pluginFlagDirectories)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The error `body` throws, or nil.
func configError(_ body: () throws(ConfigError) -> ServerConfig) -> ConfigError? {
    do {
        _ = try body()
        return nil
    } catch { return error }
}

@Suite struct ServerConfigLoadTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let config = try ServerConfig.load(scratch.sources())
        let state = scratch.directory.path + "/.local/share/orchion"
        #expect(config.listen == SocketAddress(host: "127.0.0.1", port: 7420))
        #expect(config.stateDirectory == state)
        #expect(config.tokens.joinTokenFile == state + "/join.token")
        #expect(config.tokens.clientTokensFile == state + "/client.tokens")
        #expect(config.logs.directory == state + "/logs")
        #expect(config.logs.maxBytesPerAttempt == 64 << 20)
        #expect(config.logs.retentionBytes == 4 << 30)
        #expect(config.logs.retentionAge == .seconds(7 * 86_400))
        #expect(config.scheduler.defaultStrategy == "bin-packing")
        #expect(config.scheduler.batchSize == 256)
        #expect(config.scheduler.pluginBudget == .seconds(1))
        #expect(config.scheduler.hangLimit == .seconds(10))
        #expect(config.scheduler.failureLimit == 3)
        #expect(config.heartbeat == HeartbeatPolicy())
        #expect(config.eventRetention == 100_000)
        #expect(config.metricsRequireToken == false)
        #expect(config.hotLoadPlugins == true)
        #expect(config.wire.maxConnections == 4096)
        #expect(config.pluginDirectories == PluginDirectory.searchPath(environment: ["HOME": scratch.directory.path]))
        #expect(config.warnings.isEmpty)
        #expect(config.origins.isEmpty)
    }

    @Test func fileThenEnvironmentThenFlagsEachWin() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file(
            """
            listen: 127.0.0.1:1000
            scheduler:
              default_strategy: spread
              batch_size: 10
            heartbeat:
              min_interval: 5s
              jitter: 0.5
            logs:
              retention_bytes: 1GiB
            """)
        let config = try ServerConfig.load(
            scratch.sources(
                file: file,
                environment: [
                    "ORCHION_LISTEN": "127.0.0.1:2000", "ORCHION_DEFAULT_STRATEGY": "round-robin",
                    "ORCHION_HEARTBEAT_JITTER": "0.1", "ORCHION_EVENT_RETENTION": "500",
                ],
                flags: [
                    ConfigOverride(key: "listen", value: "127.0.0.1:3000", flag: "--listen"),
                    ConfigOverride(key: "heartbeat.jitter", value: "0.75", flag: "--set"),
                ]))
        #expect(config.listen.port == 3000)
        #expect(config.origins["listen"] == .flag("--listen"))
        #expect(config.heartbeat.jitter == 0.75)
        #expect(config.scheduler.defaultStrategy == "round-robin")
        #expect(config.origins["scheduler.default_strategy"] == .environment("ORCHION_DEFAULT_STRATEGY"))
        #expect(config.eventRetention == 500)
        #expect(config.scheduler.batchSize == 10)
        #expect(config.origins["scheduler.batch_size"] == .file(path: file, line: 4, column: 15))
        #expect(config.heartbeat.minInterval == .seconds(5))
        #expect(config.logs.retentionBytes == 1 << 30)
    }

    @Test func unknownKeyInTheFileIsNamedWithItsLineAndTheClosestKey() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let nested = try scratch.file("heartbeat:\n  min_intervall: 5s\n")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: nested)) }?.description
                == "\(nested):2:3: unknown key 'heartbeat.min_intervall'; did you mean 'heartbeat.min_interval'?")
        let misplaced = try scratch.file("listen: 127.0.0.1:1\nmin_interval: 5s\n", name: "top.yaml")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: misplaced)) }?
                .description == "\(misplaced):2:1: unknown key 'min_interval'; did you mean 'heartbeat.min_interval'?")
        let section = try scratch.file("hearbeat:\n  jitter: 0.1\n", name: "section.yaml")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: section)) }?
                .description == "\(section):1:1: unknown key 'hearbeat'; did you mean 'heartbeat'?")
        let far = try scratch.file("completely_different: 1\n", name: "far.yaml")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: far)) }?
                .description == "\(far):1:1: unknown key 'completely_different'")
    }

    @Test func unknownVariablesAndFlagKeysAreRefusedWithTheClosestName() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        #expect(
            configError { () throws(ConfigError) in
                try ServerConfig.load(scratch.sources(environment: ["ORCHION_LISTN": "127.0.0.1:1"]))
            }?.description
                == "environment variable ORCHION_LISTN: not a setting of orchion server; did you mean ORCHION_LISTEN?")
        #expect(
            configError { () throws(ConfigError) in
                try ServerConfig.load(
                    scratch.sources(flags: [ConfigOverride(key: "scheduler.batchsize", value: "1", flag: "--set")]))
            }?.description == "flag --set: unknown key 'scheduler.batchsize'; did you mean 'scheduler.batch_size'?")
        let others = try ServerConfig.load(
            scratch.sources(environment: [
                "ORCHION_JOIN_TOKEN": "0123456789abcdef0123", "ORCHION_PLUGINS_PATH": "/nonexistent",
            ]))
        #expect(others.listen.port == 7420, "variables other parts of Orchion read are left alone")
    }

    @Test func wrongTypesAndUnitsSayWhatWasExpectedAndFound() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let cases: [(String, String)] = [
            (
                "scheduler:\n  batch_size: many\n",
                "2:15: scheduler.batch_size: expected a whole number from 1, found 'many'"
            ),
            (
                "heartbeat:\n  min_interval: 5\n",
                "2:17: heartbeat.min_interval: expected a duration such as 500ms, 2s, 5m, 1h30m or 7d, found '5'"
            ),
            (
                "listen:\n  - a\n",
                "2:3: listen: expected an address such as 127.0.0.1:7420, [::1]:7420 or 0.0.0.0:7420, found a list"
            ),
            ("heartbeat: 5s\n", "1:1: heartbeat: expected a mapping of heartbeat.* settings, found '5s'"),
            ("heartbeat:\n  jitter: 2\n", "2:11: heartbeat.jitter: expected a number from 0 to 1, found '2'"),
            ("- a\n- b\n", "1:1: expected a mapping of settings (key: value lines), found a list"),
            ("hot_load_plugins: maybe\n", "1:19: hot_load_plugins: expected true or false, found 'maybe'"),
            ("log_level: loud\n", "1:12: log_level: expected debug, info, warning or error, found 'loud'"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let file = try scratch.file(text, name: "case\(index).yaml")
            #expect(
                configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: file)) }?
                    .description == "\(file):\(message)")
        }
        #expect(
            configError { () throws(ConfigError) in
                try ServerConfig.load(scratch.sources(environment: ["ORCHION_LOGS_RETENTION_BYTES": "lots"]))
            }?.description
                == "environment variable ORCHION_LOGS_RETENTION_BYTES: logs.retention_bytes: expected a size such as 65536, 64KiB, 64MiB or 4GiB, found 'lots'"
        )
        let broken = try scratch.file("listen: [\n", name: "broken.yaml")
        let error = configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: broken)) }
        #expect(error?.description.hasPrefix("\(broken):2:1: not valid YAML: ") == true, "\(String(describing: error))")
    }

    @Test func valuesAreCheckedAgainstEachOther() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file("heartbeat:\n  suspect_after_missed: 5\n  down_after_missed: 4\n")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: file)) }?.description
                == "\(file):3:22: heartbeat.down_after_missed: expected at least heartbeat.suspect_after_missed (5), found 4"
        )
        #expect(
            configError { () throws(ConfigError) in
                try ServerConfig.load(scratch.sources(environment: ["ORCHION_SCHEDULER_HANG_LIMIT": "500ms"]))
            }?.description
                == "environment variable ORCHION_SCHEDULER_HANG_LIMIT: scheduler.hang_limit: expected at least scheduler.plugin_budget (1s), found 500ms"
        )
    }

    @Test func aNamedFileMustExistTheDefaultOneNeedNot() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let missing = scratch.directory.appendingPathComponent("missing.yaml").path
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: missing)) }?
                .description == "config file: cannot open \(missing): No such file or directory")
        var sources = scratch.sources()
        sources.defaultFile = try scratch.file("scheduler:\n  default_strategy: spread\n", name: "default.yaml")
        #expect(
            try ServerConfig.load(sources).scheduler.defaultStrategy == "spread", "an existing default file is read")
    }

    @Test func listeningBeyondLoopbackCarriesAWarning() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        for (address, warned) in [
            ("0.0.0.0:7420", true), ("[::]:7420", true), ("192.168.1.5:80", true), ("127.0.0.1:7420", false),
            ("[::1]:9", false),
        ] {
            let config = try ServerConfig.load(
                scratch.sources(flags: [ConfigOverride(key: "listen", value: address, flag: "--listen")]))
            #expect(
                config.warnings == (warned ? ["listening on \(address): reachable from other machines"] : []),
                "\(address)")
        }
    }

    @Test func pluginDirectoriesFromTheFileReplaceTheSearchPathAndFlagsComeFirst() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file("plugin_directories:\n  - /srv/a\n  - /srv/b\n")
        let fromFile = try ServerConfig.load(scratch.sources(file: file))
        #expect(fromFile.pluginDirectories.map(\.path) == ["/srv/a", "/srv/b"])
        let withFlags = try ServerConfig.load(
            scratch.sources(file: file, pluginFlagDirectories: ["/srv/flag", "/srv/b"]))
        #expect(withFlags.pluginDirectories.map(\.path) == ["/srv/flag", "/srv/b", "/srv/a"])
        let fromEnvironment = try ServerConfig.load(
            scratch.sources(file: file, environment: ["ORCHION_PLUGIN_DIRECTORIES": "/srv/x:/srv/y"]))
        #expect(fromEnvironment.pluginDirectories.map(\.path) == ["/srv/x", "/srv/y"])
    }

    @Test func statePathsFollowTheStateDirectoryUnlessSet() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let config = try ServerConfig.load(
            scratch.sources(environment: ["ORCHION_STATE_DIR": "/srv/orchion", "ORCHION_LOG_DIR": "/var/log/orchion"]))
        #expect(config.stateDirectory == "/srv/orchion")
        #expect(config.tokens.joinTokenFile == "/srv/orchion/join.token")
        #expect(config.tokens.clientTokensFile == "/srv/orchion/client.tokens")
        #expect(config.logs.directory == "/var/log/orchion")
        let relative = try ServerConfig.load(
            scratch.sources(flags: [ConfigOverride(key: "state_directory", value: "state", flag: "--state-dir")]))
        #expect(relative.stateDirectory == FileManager.default.currentDirectoryPath + "/state")
    }

    @Test func anEmptyValueInTheFilePutsTheDefaultBack() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file("listen:\nscheduler:\n  batch_size: ~\n")
        let config = try ServerConfig.load(
            scratch.sources(file: file, environment: ["ORCHION_SCHEDULER_BATCH_SIZE": "7"]))
        #expect(config.listen.port == 7420)
        #expect(config.scheduler.batchSize == 7, "the environment still overrides the file")
    }

    @Test func reloadReadsTheFileAgainAndReportsWhatChanged() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file("scheduler:\n  default_strategy: spread\n")
        let first = try ServerConfig.load(scratch.sources(file: file))
        _ = try scratch.file("listen: 127.0.0.1:9000\nscheduler:\n  default_strategy: round-robin\n")
        let second = try first.reload().get()
        #expect(second.scheduler.defaultStrategy == "round-robin")
        #expect(
            second.changes(from: first) == [
                ConfigChange(key: "listen", old: "\"127.0.0.1:7420\"", new: "\"127.0.0.1:9000\"", reloadable: false),
                ConfigChange(
                    key: "scheduler.default_strategy", old: "\"spread\"", new: "\"round-robin\"", reloadable: true),
            ])
        _ = try scratch.file("scheduler:\n  default_strategy: [\n")
        guard case .failure(let error) = second.reload() else {
            Issue.record("a broken file reloaded")
            return
        }
        #expect(error.description.hasPrefix(file + ":"))
        #expect(second.scheduler.defaultStrategy == "round-robin")
    }

    @Test func printedConfigurationLoadsBackToTheSameValues() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let config = try ServerConfig.load(
            scratch.sources(
                environment: [
                    "ORCHION_STATE_DIR": scratch.directory.path + "/st \"quoted\"", "ORCHION_HEARTBEAT_JITTER": "0.3",
                    "ORCHION_LOGS_RETENTION_AGE": "36h", "ORCHION_WIRE_MAX_BODY_BYTES": "8MiB",
                ],
                flags: [ConfigOverride(key: "listen", value: "[::1]:7000", flag: "--listen")]))
        let file = try scratch.file(config.yaml, name: "printed.yaml")
        let again = try ServerConfig.load(scratch.sources(file: file))
        #expect(again.changes(from: config) == [])
        #expect(again.heartbeat.jitter == 0.3)
        #expect(again.logs.retentionAge == .seconds(36 * 3600))
        #expect(config.yaml.contains("listen: \"[::1]:7000\"  # flag --listen"))
        #expect(config.yaml.contains("  retention_age: 1d12h  # environment variable ORCHION_LOGS_RETENTION_AGE"))
    }

    @Test func everyKeyHasADistinctVariableAndAnExistingSection() {
        let names = ConfigKey.all.map(\.name)
        let variables = ConfigKey.all.map(\.environment)
        #expect(Set(names).count == names.count)
        #expect(Set(variables).count == variables.count)
        #expect(variables.allSatisfy { $0.hasPrefix("ORCHION_") })
        #expect(ConfigKey.variable("ORCHION_DEFAULT_STRATEGY")?.name == "scheduler.default_strategy")
        #expect(ConfigKey.variable("ORCHION_STATE_DIR")?.name == "state_directory")
        #expect(ConfigKey.variable("ORCHION_HEARTBEAT_MIN_INTERVAL")?.name == "heartbeat.min_interval")
        #expect(ConfigKey.sections == ["scheduler", "heartbeat", "tokens", "tls", "logs", "wire"])
    }

    @Test func aKeyGivenTwiceIsRefused() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: file)) }?.description
                == "\(file):1:1: key given twice in the mapping starting here: listen")
        let nested = try scratch.file("scheduler:\n  batch_size: 1\n  batch_size: 2\n", name: "nested.yaml")
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(file: nested)) }?.description
                == "\(nested):2:3: key given twice in the mapping starting here: batch_size")
    }

    @Test func wireKeysSetTheWireLimits() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let file = try scratch.file(
            """
            wire:
              max_connections: 100
              max_body_bytes: 8MiB
              request_timeout: 2s
              idle_timeout: 1500ms
              keepalive_idle: 2m
              max_concurrent_streams: 64
              ping_timeout: 5s
            """)
        let wire = try ServerConfig.load(scratch.sources(file: file)).wire
        #expect(wire.maxConnections == 100 && wire.maxBodyBytes == 8 << 20)
        #expect(wire.requestTimeoutMillis == 2000 && wire.idleTimeoutMillis == 1500)
        #expect(wire.keepAliveIdleSeconds == 120)
        #expect(wire.http2.maxConcurrentStreams == 64 && wire.http2.pingTimeoutMillis == 5000)
        let cases: [(String, String)] = [
            ("ORCHION_WIRE_KEEPALIVE_IDLE", "1500ms"), ("ORCHION_WIRE_REQUEST_TIMEOUT", "0.5ms"),
            ("ORCHION_WIRE_MAX_CONCURRENT_STREAMS", "4294967296"), ("ORCHION_WIRE_MAX_CONNECTIONS", "0"),
        ]
        let messages = [
            "expected whole seconds from 1s, found '1500ms'", "expected whole milliseconds from 1ms, found '0.5ms'",
            "expected a whole number from 1 to 4294967295, found '4294967296'",
            "expected a whole number from 1, found '0'",
        ]
        for ((variable, value), message) in zip(cases, messages) {
            let error = configError { () throws(ConfigError) in
                try ServerConfig.load(scratch.sources(environment: [variable: value]))
            }
            #expect(error?.message == message, "\(variable)")
            #expect(error?.origin == .environment(variable))
        }
    }

    @Test func tokenFilesCanBeNamedByTheirShortVariables() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let config = try ServerConfig.load(
            scratch.sources(environment: [
                "ORCHION_JOIN_TOKEN_FILE": "/srv/secrets/join", "ORCHION_CLIENT_TOKENS_FILE": "/srv/secrets/clients",
            ]))
        #expect(config.tokens.joinTokenFile == "/srv/secrets/join")
        #expect(config.tokens.clientTokensFile == "/srv/secrets/clients")
    }

    @Test func theConfigurationGuideListsEveryKeyWithItsVariable() throws {
        let guide = try String(
            contentsOf: Paths.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for key in ConfigKey.all {
            #expect(
                guide.contains("| `\(key.name)` | `\(key.environment)`"), "\(key.name) is missing from the guide")
        }
    }

    @Test func describingAConfigurationShowsNoVariableValue() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let secret = "5ec7e75ec7e75ec7e75ec7e7"
        let config = try ServerConfig.load(
            scratch.sources(environment: ["ORCHION_JOIN_TOKEN": secret, "OTHER_SECRET": secret]))
        var dumped = ""
        dump(config, to: &dumped)
        for text in ["\(config)", String(reflecting: config), dumped, "\(config.sources)", config.yaml] {
            #expect(!text.contains(secret))
        }
        #expect("\(config.sources)".contains("ORCHION_JOIN_TOKEN"))
    }

    @Test func pluginFlagDirectoriesAreMadeAbsoluteAndListedOnce() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let cwd = FileManager.default.currentDirectoryPath
        let config = try ServerConfig.load(
            scratch.sources(
                environment: ["ORCHION_PLUGIN_DIRECTORIES": "\(cwd)/p:/srv/q"], pluginFlagDirectories: ["p", "./p"]))
        #expect(config.pluginDirectories.map(\.path) == ["\(cwd)/p", "/srv/q"])
        #expect(
            configError { () throws(ConfigError) in try ServerConfig.load(scratch.sources(pluginFlagDirectories: [""]))
            }?
            .description == "flag --plugins-dir: plugin_directories: expected a directory path, found ''")
    }
}
