import Glibc
import OrchionPluginHost
import Yams

import enum OrchionCore.KeySuggestion

extension ServerConfig {
    /// The largest config file read.
    static let maxFileBytes = 1 << 20

    /// Loads the configuration: the defaults, then the file (`sources.file`,
    /// which must exist, else `sources.defaultFile` if it exists), then the
    /// `ORCHION_*` variables of `sources.environment`, then `sources.flags`;
    /// then resolves the state directory and the paths under it and checks
    /// the values against each other.
    ///
    /// Strict: an unknown key in the file, or an `ORCHION_*` variable that is
    /// neither a key's variable nor in `sources.otherVariables`, is an error
    /// that names it, says where it is and suggests the closest key; a value
    /// of the wrong form says what was expected and what was found.
    ///
    /// Threading: reads the file (blocking): call off the event loop thread.
    public static func load(_ sources: ConfigSources) throws(ConfigError) -> ServerConfig {
        var config = ServerConfig()
        config.sources = sources
        config.pluginDirectories = PluginDirectory.searchPath(environment: sources.environment)
        try config.applyFile(sources)
        try config.applyEnvironment(sources)
        for flag in sources.flags {
            guard let key = ConfigKey.named(flag.key) else {
                throw ConfigError(
                    "unknown key '\(flag.key)'" + suggestion(for: flag.key, among: ConfigKey.all.map(\.name)),
                    origin: .flag(flag.flag))
            }
            try config.apply(key, .text(flag.value), origin: .flag(flag.flag))
        }
        if !sources.pluginFlagDirectories.isEmpty {
            if sources.pluginFlagDirectories.contains(where: \.isEmpty) {
                throw ConfigError(
                    "expected a directory path, found ''", key: "plugin_directories", origin: .flag("--plugins-dir"))
            }
            config.pluginDirectories =
                sources.pluginFlagDirectories.map { PluginDirectory(path: $0, source: .flag) }
                + config.pluginDirectories
            config.origins["plugin_directories"] = .flag("--plugins-dir")
        }
        try config.resolvePaths()
        try config.checkTogether()
        return config
    }

    /// Reads the configuration again from the same file, environment and
    /// flags as this one (for SIGHUP): the new configuration, or why it
    /// cannot be used (the running one stays). `changes(from:)` says what
    /// differs and whether each change can apply without a restart.
    ///
    /// Threading: reads the file (blocking): call off the event loop thread.
    public func reload() -> Result<ServerConfig, ConfigError> { Self.reload(from: sources) }

    /// `load(sources)` as a `Result`.
    ///
    /// Threading: reads the file (blocking): call off the event loop thread.
    public static func reload(from sources: ConfigSources) -> Result<ServerConfig, ConfigError> {
        do { return .success(try load(sources)) } catch { return .failure(error) }
    }

    /// The keys whose value differs between `old` and this configuration.
    public func changes(from old: ServerConfig) -> [ConfigChange] {
        ConfigKey.all.compactMap { key in
            let before = key.render(old)
            let after = key.render(self)
            guard before != after else { return nil }
            return ConfigChange(
                key: key.name, old: before.displayed, new: after.displayed, reloadable: key.reloadable)
        }
    }

    // MARK: Sources

    private mutating func applyFile(_ sources: ConfigSources) throws(ConfigError) {
        guard let path = sources.file ?? sources.defaultFile else { return }
        let contents: FileText.Contents
        switch FileText.read(path, limit: Self.maxFileBytes) {
        case .success(let read): contents = read
        case .failure(.file(let failure)) where failure.isMissing && sources.file == nil: return
        case .failure(.file(let failure)): throw ConfigError("config file: " + failure.describe(path))
        case .failure(.refused(let reason)): throw ConfigError(reason)
        }
        guard let text = String(validating: contents.bytes, as: UTF8.self) else {
            throw ConfigError("not UTF-8 text", origin: .file(path: path, line: nil, column: nil))
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw Self.describe(error, path: path)
        } catch {
            throw ConfigError("not valid YAML: \(error)", origin: .file(path: path, line: nil, column: nil))
        }
        guard let root, !Self.isNull(root) else { return }
        guard case .mapping(let top) = root else {
            throw ConfigError(
                "expected a mapping of settings (key: value lines), found \(Self.kind(root))",
                origin: Self.origin(path, root))
        }
        try applyMapping(top, prefix: "", path: path)
    }

    private mutating func applyMapping(_ mapping: Node.Mapping, prefix: String, path: String) throws(ConfigError) {
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw ConfigError(
                    "expected a key name, found \(Self.kind(keyNode))", origin: Self.origin(path, keyNode))
            }
            let name = prefix + scalar.string
            let origin = Self.origin(path, keyNode)
            guard seen.insert(name).inserted else { throw ConfigError("key given twice", key: name, origin: origin) }
            if prefix.isEmpty, ConfigKey.sections.contains(name) {
                if Self.isNull(value) { continue }
                guard case .mapping(let section) = value else {
                    throw ConfigError(
                        "expected a mapping of \(name).* settings, found \(Self.kind(value))", key: name,
                        origin: origin)
                }
                try applyMapping(section, prefix: name + ".", path: path)
                continue
            }
            guard let key = ConfigKey.named(name) else {
                let known = ConfigKey.all.map(\.name) + ConfigKey.sections
                throw ConfigError(
                    "unknown key '\(name)'" + Self.suggestion(for: name, among: known), origin: origin)
            }
            let input: ConfigKey.ConfigInput
            switch value {
            case _ where Self.isNull(value): input = .null
            case .scalar(let text): input = .text(text.string)
            case .sequence where !key.isList:
                throw ConfigError("expected \(key.form), found a list", key: name, origin: Self.origin(path, value))
            case .sequence(let items):
                var list: [String] = []
                for item in items {
                    guard case .scalar(let text) = item else {
                        throw ConfigError(
                            "expected \(key.form), found a list holding \(Self.kind(item))", key: name,
                            origin: Self.origin(path, item))
                    }
                    list.append(text.string)
                }
                input = .list(list)
            default:
                throw ConfigError(
                    "expected \(key.form), found \(Self.kind(value))", key: name, origin: Self.origin(path, value))
            }
            try apply(key, input, origin: Self.origin(path, value))
        }
    }

    private mutating func applyEnvironment(_ sources: ConfigSources) throws(ConfigError) {
        for (variable, value) in sources.environment.sorted(by: { $0.key < $1.key })
        where variable.hasPrefix("ORCHION_") && !sources.otherVariables.contains(variable) {
            guard let key = ConfigKey.variable(variable) else {
                let known = ConfigKey.all.map(\.environment) + sources.otherVariables.sorted()
                throw ConfigError(
                    "not a setting of orchion server" + Self.suggestion(for: variable, among: known),
                    origin: .environment(variable))
            }
            try apply(key, .text(value), origin: .environment(variable))
        }
    }

    private mutating func apply(_ key: ConfigKey, _ input: ConfigKey.ConfigInput, origin: ConfigOrigin)
        throws(ConfigError)
    {
        if case .failure(let problem) = key.apply(&self, input) {
            throw ConfigError(problem.description, key: key.name, origin: origin)
        }
        origins[key.name] = origin
    }

    // MARK: Resolution and checks

    private mutating func resolvePaths() throws(ConfigError) {
        guard let state = StateDirectory.resolve(configured: stateDirectory, environment: sources.environment) else {
            throw ConfigError(
                "no state directory: set state_directory in the file, ORCHION_STATE_DIR or --state-dir (HOME is not set)",
                key: "state_directory")
        }
        let directory = Self.absolute(state)
        stateDirectory = directory
        func under(_ name: String) -> String { directory.hasSuffix("/") ? directory + name : directory + "/" + name }
        tokens.joinTokenFile = tokens.joinTokenFile.isEmpty ? under("join.token") : Self.absolute(tokens.joinTokenFile)
        tokens.clientTokensFile =
            tokens.clientTokensFile.isEmpty ? under("client.tokens") : Self.absolute(tokens.clientTokensFile)
        logs.directory = logs.directory.isEmpty ? under("logs") : Self.absolute(logs.directory)
        tls.directory = tls.directory.isEmpty ? under("tls") : Self.absolute(tls.directory)
        if !tls.certificateFile.isEmpty { tls.certificateFile = Self.absolute(tls.certificateFile) }
        if !tls.keyFile.isEmpty { tls.keyFile = Self.absolute(tls.keyFile) }
        var seen = Set<String>()
        pluginDirectories = pluginDirectories.map { PluginDirectory(path: Self.absolute($0.path), source: $0.source) }
            .filter { seen.insert($0.path).inserted }
    }

    private func checkTogether() throws(ConfigError) {
        if case .failure(let refusal) = TLSPolicy.decide(listen: listen, tls: tls) {
            throw ConfigError(refusal.message, key: refusal.key, origin: origins[refusal.key])
        }
        if heartbeat.downAfterMissed < heartbeat.suspectAfterMissed {
            throw ConfigError(
                "expected at least heartbeat.suspect_after_missed (\(heartbeat.suspectAfterMissed)), found \(heartbeat.downAfterMissed)",
                key: "heartbeat.down_after_missed", origin: origins["heartbeat.down_after_missed"])
        }
        if scheduler.hangLimit < scheduler.pluginBudget {
            throw ConfigError(
                "expected at least scheduler.plugin_budget (\(ConfigUnits.format(scheduler.pluginBudget))), found \(ConfigUnits.format(scheduler.hangLimit))",
                key: "scheduler.hang_limit", origin: origins["scheduler.hang_limit"])
        }
        if logs.retentionBytes < logs.maxBytesPerAttempt {
            throw ConfigError(
                "expected at least logs.max_bytes_per_attempt (\(ConfigUnits.format(bytes: logs.maxBytesPerAttempt))), found \(ConfigUnits.format(bytes: logs.retentionBytes))",
                key: "logs.retention_bytes", origin: origins["logs.retention_bytes"])
        }
    }

    /// `path` made absolute against the working directory.
    static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        let base = String(cString: cwd)
        let relative = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        return base.hasSuffix("/") ? base + relative : base + "/" + relative
    }

    // MARK: YAML helpers

    private static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private static func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private static func origin(_ path: String, _ node: Node) -> ConfigOrigin {
        .file(path: path, line: node.mark?.line, column: node.mark?.column)
    }

    private static func describe(_ error: YamlError, path: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigError(
                "not valid YAML: \(problem)", origin: .file(path: path, line: mark.line, column: mark.column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigError(
                "key given twice in the mapping starting here: \(duplicates.joined(separator: ", "))",
                origin: .file(path: path, line: context.mark.line, column: context.mark.column))
        default:
            return ConfigError("not valid YAML: \(error)", origin: .file(path: path, line: nil, column: nil))
        }
    }

    /// "; did you mean 'X'?" for the closest of `known`, or "".
    static func suggestion(for name: String, among known: [String]) -> String {
        guard let closest = KeySuggestion.closest(to: name, among: known) else { return "" }
        return name.hasPrefix("ORCHION_") ? "; did you mean \(closest)?" : "; did you mean '\(closest)'?"
    }
}

/// A key whose value differs between two configurations.
///
/// Threading: a value; safe anywhere.
public struct ConfigChange: Sendable, Hashable, CustomStringConvertible {
    /// The key, e.g. `scheduler.default_strategy`.
    public let key: String
    /// The old and new values as `--print-config` writes them.
    public let old: String
    public let new: String
    /// Whether the new value can take effect without a restart (`ConfigKey.reloadable`).
    public let reloadable: Bool

    public init(key: String, old: String, new: String, reloadable: Bool) {
        self.key = key
        self.old = old
        self.new = new
        self.reloadable = reloadable
    }

    public var description: String {
        "\(key): \(old) -> \(new)" + (reloadable ? "" : " (takes effect at the next restart)")
    }
}
