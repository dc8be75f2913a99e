import ArgumentParser
import OrchionLoop
import OrchionServer

/// `orchion server`: the control plane.
///
/// Loads the configuration (defaults < YAML file < `ORCHION_*` variables <
/// these flags, see `ServerConfig.load`), refuses a bad one with an error
/// that says where and what, and then runs the server (`runServer`) or,
/// with `--print-config`, prints the effective configuration and exits.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the control plane: node registry, job queue, scheduling, API on one port.",
        discussion: keyReference)

    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "The YAML config file (env ORCHION_CONFIG; default \(ConfigSources.systemFile), read only if it exists).",
            valueName: "path"))
    var configFile: String?

    @Option(
        help: ArgumentHelp(
            "The address to listen on (env ORCHION_LISTEN; default 127.0.0.1:7420). Anything but loopback is reachable from other machines and is logged as such.",
            valueName: "host:port"))
    var listen: String?

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Where the server keeps its state (env ORCHION_STATE_DIR; default $STATE_DIRECTORY, else $XDG_DATA_HOME/orchion, else ~/.local/share/orchion).",
            valueName: "dir"))
    var stateDirectory: String?

    @Option(
        name: .customLong("plugins-dir"),
        help: ArgumentHelp(
            "A plugin directory searched before the configured ones (repeatable; the configured list is plugin_directories, env ORCHION_PLUGIN_DIRECTORIES).",
            valueName: "dir"))
    var pluginDirectories: [String] = []

    @Option(
        name: .customLong("default-strategy"),
        help: ArgumentHelp(
            "The strategy plugin for jobs that name none (env ORCHION_DEFAULT_STRATEGY; default bin-packing).",
            valueName: "name"))
    var defaultStrategy: String?

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "How much to log: debug, info, warning or error (env ORCHION_LOG_LEVEL; default info).", valueName: "level")
    )
    var logLevel: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Set any config key, e.g. --set heartbeat.min_interval=5s (repeatable; keys are listed below).",
            valueName: "key=value"))
    var settings: [String] = []

    @Flag(
        name: .customLong("print-config"),
        help: "Print the effective configuration as YAML (token files as paths, never their tokens) and exit.")
    var printConfig = false

    func run() throws {
        let environment = ProcessEnvironment.current
        var flags: [ConfigOverride] = []
        for setting in settings {
            guard let equals = setting.firstIndex(of: "="), equals != setting.startIndex else {
                throw ValidationError("--set expects KEY=VALUE, found '\(setting)'")
            }
            flags.append(
                ConfigOverride(
                    key: String(setting[..<equals]), value: String(setting[setting.index(after: equals)...]),
                    flag: "--set"))
        }
        let named: [(String?, String, String)] = [
            (listen, "listen", "--listen"), (stateDirectory, "state_directory", "--state-dir"),
            (defaultStrategy, "scheduler.default_strategy", "--default-strategy"),
            (logLevel, "log_level", "--log-level"),
        ]
        for case (let value?, let key, let flag) in named {
            flags.append(ConfigOverride(key: key, value: value, flag: flag))
        }
        let sources = ConfigSources(
            file: configFile ?? environment["ORCHION_CONFIG"], environment: environment, flags: flags,
            pluginFlagDirectories: pluginDirectories)
        let config: ServerConfig
        switch ServerConfig.reload(from: sources) {
        case .success(let loaded): config = loaded
        case .failure(let error):
            printError("orchion server: \(error)")
            throw ExitCode(2)
        }
        if printConfig {
            for warning in config.warnings { printError("warning: " + warning) }
            Output.print(String(config.yaml.dropLast()))
            return
        }
        try runServer(config)
    }

    /// Every config key with its variable, for `--help`.
    static var keyReference: String {
        var lines = [
            "Settings come from, lowest to highest precedence: defaults, the YAML file, ORCHION_* environment variables, flags. An unknown key or variable is an error.",
            "Durations: 500ms, 2s, 5m, 1h30m, 7d. Sizes: 65536, 64KiB, 64MiB, 4GiB.",
            "ORCHION_JOIN_TOKEN, when set, is the agents' join token (the join token file is then not used).",
            "",
            "Config keys (file key, environment variable; a key under a section is written nested in the file: heartbeat.min_interval is min_interval under heartbeat:):",
        ]
        for key in ConfigKey.all {
            lines.append("\(key.name) (\(key.environment)): \(key.help)")
        }
        return lines.joined(separator: "\n")
    }
}
