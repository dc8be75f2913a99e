/// What a `ServerConfig` is loaded from: the file, the environment and the
/// command line. Kept in the loaded configuration so `reload()` (on
/// SIGHUP) reads the same file with the same environment and flags.
///
/// Threading: a value; safe anywhere.
public struct ConfigSources: Sendable {
    /// The file named by `--config` or `ORCHION_CONFIG`, which must exist;
    /// nil means `defaultFile`, read only if it exists.
    public var file: String?
    /// The file read when none is named, if it exists; nil reads none
    /// (for tests and embedding: no file of the machine leaks in).
    public var defaultFile: String?
    /// The process environment: `ORCHION_*` variables (see `ConfigKey`) and
    /// what the defaults depend on (`STATE_DIRECTORY`, `XDG_DATA_HOME`,
    /// `HOME`, `ORCHION_PLUGINS_PATH`).
    public var environment: [String: String]
    /// Values from command-line flags, highest precedence, in order.
    public var flags: [ConfigOverride]
    /// `--plugins-dir` directories: searched before the configured plugin
    /// directories (as `orchion plugin list --plugins-dir` does).
    public var pluginFlagDirectories: [String]
    /// `ORCHION_*` variables that are not server settings and are left alone
    /// (the join token, the plugin path, other commands' variables).
    public var otherVariables: Set<String>

    /// The file read when none is named.
    public static let systemFile = "/etc/orchion/server.yaml"

    /// `ORCHION_*` variables other parts of Orchion read, which the server's
    /// strict check of the environment must not refuse.
    public static let knownOtherVariables: Set<String> = [
        "ORCHION_JOIN_TOKEN", "ORCHION_CONFIG", "ORCHION_PLUGINS_PATH", "ORCHION_JOB_ID", "ORCHION_GPUS",
        "ORCHION_BUILD_DIR", "ORCHION_FUZZ", "ORCHION_FUZZ_TARGET", "ORCHION_SERVER", "ORCHION_NODE_ID",
        "ORCHION_AGENT_STATE_DIR", "ORCHION_AGENT_JOB_USER", "ORCHION_AGENT_WORK_DIR",
    ]

    public init(
        file: String? = nil, defaultFile: String? = ConfigSources.systemFile, environment: [String: String] = [:],
        flags: [ConfigOverride] = [], pluginFlagDirectories: [String] = [],
        otherVariables: Set<String> = ConfigSources.knownOtherVariables
    ) {
        self.file = file
        self.defaultFile = defaultFile
        self.environment = environment
        self.flags = flags
        self.pluginFlagDirectories = pluginFlagDirectories
        self.otherVariables = otherVariables
    }
}

extension ConfigSources: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The file, the flags and the names of the `ORCHION_*` variables, never
    /// a variable's value (`ORCHION_JOIN_TOKEN` is a secret).
    public var description: String {
        let variables = environment.keys.filter { $0.hasPrefix("ORCHION_") }.sorted()
        let named = file ?? defaultFile.map { $0 + " (if it exists)" } ?? "none"
        return "file: \(named), variables: [\(variables.joined(separator: ", "))], "
            + "flags: [\(flags.map { "\($0.flag) \($0.key)=\($0.value)" }.joined(separator: ", "))]"
            + (pluginFlagDirectories.isEmpty ? "" : ", plugins dirs: \(pluginFlagDirectories)")
    }

    public var debugDescription: String { description }

    /// Shows `description` only, so `dump` and reflection show no variable's value.
    public var customMirror: Mirror { Mirror(self, children: ["summary": description], displayStyle: .struct) }
}

/// One value set on the command line: a config key (`ConfigKey.name`), its
/// text as a file or variable would give it, and the flag it came from (for
/// errors).
///
/// Threading: a value; safe anywhere.
public struct ConfigOverride: Sendable, Hashable {
    public var key: String
    public var value: String
    public var flag: String

    public init(key: String, value: String, flag: String) {
        self.key = key
        self.value = value
        self.flag = flag
    }
}

/// Where a configuration value came from.
///
/// Threading: a value; safe anywhere.
public enum ConfigOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The built-in default.
    case defaults
    /// A YAML file, at a line and column when known.
    case file(path: String, line: Int?, column: Int?)
    /// An environment variable.
    case environment(String)
    /// A command-line flag.
    case flag(String)

    public var description: String {
        switch self {
        case .defaults: return "default"
        case .file(let path, let line?, let column?): return "\(path):\(line):\(column)"
        case .file(let path, let line?, nil): return "\(path):\(line)"
        case .file(let path, _, _): return path
        case .environment(let name): return "environment variable \(name)"
        case .flag(let name): return "flag \(name)"
        }
    }
}

/// A configuration that cannot be used: where, and what was expected and
/// found. Never carries a token.
///
/// Threading: a value; safe anywhere.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the bad value or key is, when one place is to blame.
    public let origin: ConfigOrigin?
    /// The key concerned, when there is one.
    public let key: String?
    /// What is wrong, e.g. "expected a duration such as 500ms, 2s, 5m or 7d, found '2 seconds'".
    public let message: String

    public init(_ message: String, key: String? = nil, origin: ConfigOrigin? = nil) {
        self.origin = origin
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = origin.map { "\($0): " } ?? ""
        let name = key.map { "\($0): " } ?? ""
        return place + name + message
    }
}
