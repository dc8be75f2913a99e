import OrchionPluginHost

/// One setting of `orchion server`: its name in the YAML file (dotted for
/// sections: `heartbeat.min_interval` is `min_interval` under
/// `heartbeat:`), its environment variable, what it means, and how it is
/// read, checked and written back. `ConfigKey.all` is the one table that
/// loading, the strict checks, `--print-config` and `--help` all use.
///
/// Environment variables: `ORCHION_` followed by the name in capitals with
/// dots and underscores as `_` (`heartbeat.min_interval` is
/// `ORCHION_HEARTBEAT_MIN_INTERVAL`), except the short forms
/// `ORCHION_STATE_DIR`, `ORCHION_DEFAULT_STRATEGY`, `ORCHION_LOG_DIR`,
/// `ORCHION_JOIN_TOKEN_FILE`, `ORCHION_CLIENT_TOKENS_FILE`.
/// A list (`plugin_directories`) is colon-separated in its variable.
///
/// Threading: a value; safe anywhere.
public struct ConfigKey: Sendable {
    /// The name in the file, e.g. `scheduler.default_strategy`.
    public let name: String
    /// The environment variable that sets it, e.g. `ORCHION_DEFAULT_STRATEGY`.
    public let environment: String
    /// What it sets, with its default.
    public let help: String
    /// The form of its value, e.g. "a duration such as 500ms, 2s, 5m, 1h30m or 7d".
    public let form: String
    /// Whether a new value can take effect while the server runs (on SIGHUP
    /// or an API call); a change to any other key needs a restart.
    public let reloadable: Bool
    /// Whether the value is a list (a YAML sequence; colon-separated in the
    /// environment).
    public let isList: Bool
    let apply: @Sendable (inout ServerConfig, ConfigInput) -> Result<Void, ConfigValueError>
    let render: @Sendable (ServerConfig) -> RenderedValue

    /// The section part of the name (`heartbeat`), or nil for a top-level key.
    public var section: String? {
        name.firstIndex(of: ".").map { String(name[..<$0]) }
    }

    /// The key named `name`, if there is one.
    public static func named(_ name: String) -> ConfigKey? { all.first { $0.name == name } }

    /// The key set by the environment variable `variable`, if there is one.
    public static func variable(_ variable: String) -> ConfigKey? { all.first { $0.environment == variable } }

    /// The section names (`scheduler`, `heartbeat`, ...), in table order.
    public static var sections: [String] {
        var seen = Set<String>()
        return all.compactMap(\.section).filter { seen.insert($0).inserted }
    }

    /// The value as the file, a variable or a flag gave it.
    enum ConfigInput: Sendable {
        case text(String)
        case list([String])
        case null
    }

    /// A value as `--print-config` writes it.
    enum RenderedValue: Sendable, Hashable {
        /// Written as is (numbers, durations, sizes, booleans).
        case plain(String)
        /// Written quoted.
        case text(String)
        case list([String])
    }
}

extension ConfigKey {
    /// Every key, in the order `--print-config` writes them.
    public static let all: [ConfigKey] = [
        ConfigKey(
            "listen", help: "The address the API listens on (default 127.0.0.1:7420; port 0 picks a free one).",
            form: "an address such as 127.0.0.1:7420, [::1]:7420 or 0.0.0.0:7420",
            parse: ConfigUnits.address, get: { $0.listen }, set: { $0.listen = $1 }, render: { .text("\($0)") }),
        ConfigKey(
            "state_directory", environment: "ORCHION_STATE_DIR",
            help:
                "Where the server keeps its state (default $STATE_DIRECTORY, else $XDG_DATA_HOME/orchion, else ~/.local/share/orchion).",
            form: "a directory path", parse: path, get: { $0.stateDirectory }, set: { $0.stateDirectory = $1 },
            render: { .text($0) }),
        ConfigKey(
            name: "plugin_directories", environment: "ORCHION_PLUGIN_DIRECTORIES",
            help:
                "The plugin directories, first match wins (default: the standard search path, as `orchion plugin list` shows it).",
            form: "a list of directory paths", reloadable: false, isList: true,
            apply: { config, input in
                switch input {
                case .null:
                    config.pluginDirectories = []
                    return .success(())
                case .text(let text):
                    config.pluginDirectories = text.split(separator: ":").map {
                        PluginDirectory(path: String($0), source: .environment)
                    }
                    return .success(())
                case .list(let paths):
                    if let empty = paths.first(where: \.isEmpty) {
                        return .failure(ConfigValueError(expected: "a directory path", found: empty))
                    }
                    config.pluginDirectories = paths.map { PluginDirectory(path: $0, source: .flag) }
                    return .success(())
                }
            }, render: { .list($0.pluginDirectories.map(\.path)) }),
        ConfigKey(
            "hot_load_plugins", help: "Load plugin files dropped into a plugin directory while running (default true).",
            form: "true or false", parse: ConfigUnits.boolean, get: { $0.hotLoadPlugins },
            set: { $0.hotLoadPlugins = $1 }, render: { .plain(String($0)) }),
        ConfigKey(
            "log_level", help: "How much the server logs: debug, info, warning or error (default info).",
            form: "debug, info, warning or error", reloadable: true,
            parse: { text in
                ServerConfig.LogLevel(rawValue: String(text.trimmingSpaces).lowercased()).map { .success($0) }
                    ?? .failure(ConfigValueError(expected: "debug, info, warning or error", found: text))
            }, get: { $0.logLevel }, set: { $0.logLevel = $1 }, render: { .plain($0.rawValue) }),

        ConfigKey(
            "scheduler.default_strategy", environment: "ORCHION_DEFAULT_STRATEGY",
            help: "The strategy plugin for jobs that name none (default bin-packing).",
            form: "a strategy plugin's name", reloadable: true,
            parse: { text in
                let name = String(text.trimmingSpaces)
                return name.isEmpty || name.contains(where: { $0.isWhitespace || $0 == "/" })
                    ? .failure(ConfigValueError(expected: "a strategy plugin's name such as bin-packing", found: text))
                    : .success(name)
            }, get: { $0.scheduler.defaultStrategy }, set: { $0.scheduler.defaultStrategy = $1 },
            render: { .text($0) }),
        count(
            "scheduler.batch_size", "Pending jobs handed to a strategy in one call (default 256).", minimum: 1,
            reloadable: true, get: { $0.scheduler.batchSize }, set: { $0.scheduler.batchSize = $1 }),
        duration(
            "scheduler.plugin_budget",
            "The longest one placement call may take before its plugin is quarantined (default 1s).",
            get: { $0.scheduler.pluginBudget }, set: { $0.scheduler.pluginBudget = $1 }),
        duration(
            "scheduler.hang_limit", "How long a placement call may run before its thread is abandoned (default 10s).",
            get: { $0.scheduler.hangLimit }, set: { $0.scheduler.hangLimit = $1 }),
        count(
            "scheduler.failure_limit", "Consecutive bad rounds that quarantine a plugin (default 3).", minimum: 1,
            get: { $0.scheduler.failureLimit }, set: { $0.scheduler.failureLimit = $1 }),

        duration(
            "heartbeat.min_interval", "The shortest heartbeat interval any node is given (default 2s).",
            reloadable: true, get: { $0.heartbeat.minInterval }, set: { $0.heartbeat.minInterval = $1 }),
        number(
            "heartbeat.max_heartbeats_per_second",
            "The heartbeat rate the server is sized for; intervals grow with the node count to keep under it (default 500).",
            range: .greaterThan(0), get: { $0.heartbeat.maxHeartbeatsPerSecond },
            set: { $0.heartbeat.maxHeartbeatsPerSecond = $1 }),
        number(
            "heartbeat.jitter", "The random stagger added to each node's interval, as a fraction of it (default 0.25).",
            range: .unit, get: { $0.heartbeat.jitter }, set: { $0.heartbeat.jitter = $1 }),
        count(
            "heartbeat.suspect_after_missed", "Intervals without a heartbeat before a node is suspect (default 3).",
            minimum: 1, reloadable: true, get: { $0.heartbeat.suspectAfterMissed },
            set: { $0.heartbeat.suspectAfterMissed = $1 }),
        count(
            "heartbeat.down_after_missed", "Intervals without a heartbeat before a node is down (default 10).",
            minimum: 1, reloadable: true, get: { $0.heartbeat.downAfterMissed },
            set: { $0.heartbeat.downAfterMissed = $1 }),
        duration(
            "heartbeat.min_down_after", "The shortest silence that makes a node down (default 30s).",
            reloadable: true, get: { $0.heartbeat.minDownAfter }, set: { $0.heartbeat.minDownAfter = $1 }),

        ConfigKey(
            "tokens.join_token_file", environment: "ORCHION_JOIN_TOKEN_FILE",
            help: "The agents' join token file, owner-only (default <state>/join.token).",
            form: "a file path", parse: path, get: { $0.tokens.joinTokenFile },
            set: { $0.tokens.joinTokenFile = $1 }, render: { .text($0) }),
        ConfigKey(
            "tokens.client_tokens_file", environment: "ORCHION_CLIENT_TOKENS_FILE",
            help: "The clients' API tokens file, hashed ('NAME sha256:HEX  # scope=…' lines), owner-only "
                + "(default <state>/client.tokens).",
            form: "a file path", parse: path, get: { $0.tokens.clientTokensFile },
            set: { $0.tokens.clientTokensFile = $1 }, render: { .text($0) }),

        ConfigKey(
            "tls.mode",
            help:
                "TLS on the API port: auto (default: on when listening beyond loopback), on (always; loopback peers may still use plaintext) or off.",
            form: "auto, on or off",
            parse: { text in
                ServerConfig.TLSMode(rawValue: String(text.trimmingSpaces).lowercased()).map { .success($0) }
                    ?? .failure(ConfigValueError(expected: "auto, on or off", found: text))
            }, get: { $0.tls.mode }, set: { $0.tls.mode = $1 }, render: { .plain($0.rawValue) }),
        ConfigKey(
            "tls.cert_file",
            help:
                "A PEM certificate chain (leaf first) to serve instead of the cluster CA's server certificate (default: none).",
            form: "a file path", parse: path, get: { $0.tls.certificateFile }, set: { $0.tls.certificateFile = $1 },
            render: { .text($0) }),
        ConfigKey(
            "tls.key_file", help: "The PEM private key of tls.cert_file, owner-only (default: none).",
            form: "a file path", parse: path, get: { $0.tls.keyFile }, set: { $0.tls.keyFile = $1 },
            render: { .text($0) }),
        ConfigKey(
            "tls.allow_plaintext_beyond_loopback",
            help: "Serve plaintext to peers beyond loopback too; logged as a warning (default false).",
            form: "true or false", parse: ConfigUnits.boolean, get: { $0.tls.allowPlaintextBeyondLoopback },
            set: { $0.tls.allowPlaintextBeyondLoopback = $1 }, render: { .plain(String($0)) }),
        ConfigKey(
            name: "tls.extra_sans", environment: "ORCHION_TLS_EXTRA_SANS",
            help:
                "More DNS names and IP addresses for the server certificate, comma-separated in the variable (default: none; the host name, localhost, loopback and the host's addresses are always in).",
            form: "a list of DNS names and IP addresses", reloadable: false, isList: true,
            apply: { config, input in
                let names: [String]
                switch input {
                case .null: names = []
                case .text(let text): names = text.split(separator: ",").map { String(String($0).trimmingSpaces) }
                case .list(let list): names = list.map { String($0.trimmingSpaces) }
                }
                if let bad = names.first(where: { !SubjectNames.isValidName($0) }) {
                    return .failure(ConfigValueError(expected: "a DNS name or an IP address", found: bad))
                }
                config.tls.extraNames = names
                return .success(())
            }, render: { .list($0.tls.extraNames) }),
        millis(
            "tls.handshake_timeout", "A TLS handshake must finish within this of its first byte (default 10s).",
            get: { $0.wire.tlsHandshakeTimeoutMillis }, set: { $0.wire.tlsHandshakeTimeoutMillis = $1 }),
        ConfigKey(
            "tls.directory", help: "Where the cluster CA and the server certificate are kept (default <state>/tls).",
            form: "a directory path", parse: path, get: { $0.tls.directory }, set: { $0.tls.directory = $1 },
            render: { .text($0) }),

        ConfigKey(
            "logs.directory", environment: "ORCHION_LOG_DIR",
            help: "Where job output files go (default <state>/logs).", form: "a directory path", parse: path,
            get: { $0.logs.directory }, set: { $0.logs.directory = $1 }, render: { .text($0) }),
        size(
            "logs.max_bytes_per_attempt", "Output kept per job attempt (default 64MiB).",
            get: { $0.logs.maxBytesPerAttempt }, set: { $0.logs.maxBytesPerAttempt = $1 }),
        size(
            "logs.retention_bytes", "All job output kept together; oldest goes first (default 4GiB).",
            reloadable: true, get: { $0.logs.retentionBytes }, set: { $0.logs.retentionBytes = $1 }),
        duration(
            "logs.retention_age", "Job output older than this is removed (default 7d).", reloadable: true,
            get: { $0.logs.retentionAge }, set: { $0.logs.retentionAge = $1 }),

        count(
            "event_retention", "Events kept for resuming the event stream with after= (default 100000).",
            minimum: 1, reloadable: true, get: { $0.eventRetention }, set: { $0.eventRetention = $1 }),
        ConfigKey(
            "metrics_require_token", help: "Whether GET /metrics needs a client token (default false).",
            form: "true or false", reloadable: true, parse: ConfigUnits.boolean, get: { $0.metricsRequireToken },
            set: { $0.metricsRequireToken = $1 }, render: { .plain(String($0)) }),

        count(
            "wire.max_connections", "Open connections at once; one more is answered 503 (default 4096).",
            minimum: 1, get: { $0.wire.maxConnections }, set: { $0.wire.maxConnections = $1 }),
        count(
            "wire.max_connections_per_peer",
            "Open connections from one non-loopback address; one more is answered 503; 0 for no bound (default 256).",
            minimum: 0, get: { $0.wire.maxConnectionsPerPeer }, set: { $0.wire.maxConnectionsPerPeer = $1 }),
        size(
            "wire.max_header_bytes", "HTTP/1.1 request line and headers (default 16KiB).",
            get: { $0.wire.maxHeaderBytes }, set: { $0.wire.maxHeaderBytes = $1 }),
        size(
            "wire.max_body_bytes", "A request body or gRPC message (default 4MiB).",
            get: { $0.wire.maxBodyBytes }, set: { $0.wire.maxBodyBytes = $1 }),
        millis(
            "wire.request_timeout", "A request must arrive whole within this of its first byte (default 10s).",
            get: { $0.wire.requestTimeoutMillis }, set: { $0.wire.requestTimeoutMillis = $1 }),
        millis(
            "wire.idle_timeout", "An idle keep-alive connection is closed after this (default 1m).",
            get: { $0.wire.idleTimeoutMillis }, set: { $0.wire.idleTimeoutMillis = $1 }),
        millis(
            "wire.write_timeout", "A connection whose output makes no progress this long is dropped (default 30s).",
            get: { $0.wire.writeTimeoutMillis }, set: { $0.wire.writeTimeoutMillis = $1 }),
        ConfigKey(
            "wire.keepalive_idle", help: "TCP keepalive: the first probe after this much silence (default 1m).",
            form: ConfigUnits.durationForm + ", in whole seconds",
            parse: { text in
                ConfigUnits.duration(text).flatMap { duration in
                    let seconds = duration.components.seconds
                    guard duration.components.attoseconds == 0, seconds >= 1, seconds <= Int64(UInt32.max) else {
                        return .failure(ConfigValueError(expected: "whole seconds from 1s", found: text))
                    }
                    return .success(UInt32(seconds))
                }
            }, get: { $0.wire.keepAliveIdleSeconds }, set: { $0.wire.keepAliveIdleSeconds = $1 },
            render: { .plain(ConfigUnits.format(.seconds($0))) }),
        size(
            "wire.max_unsent_output_bytes",
            "Unsent response bytes per connection before reading pauses (default 1MiB).",
            get: { $0.wire.maxUnsentOutputBytes }, set: { $0.wire.maxUnsentOutputBytes = $1 }),
        size(
            "wire.max_total_unsent_output_bytes", "Unsent response bytes of all HTTP/1.1 connections (default 64MiB).",
            get: { $0.wire.maxTotalUnsentOutputBytes }, set: { $0.wire.maxTotalUnsentOutputBytes = $1 }),
        count(
            "wire.max_concurrent_streams", "HTTP/2 streams a peer may have open at once (default 128).", minimum: 1,
            get: { Int($0.wire.http2.maxConcurrentStreams) },
            set: { $0.wire.http2.maxConcurrentStreams = UInt32(clamping: $1) }, maximum: Int(UInt32.max)),
        millis(
            "wire.ping_interval", "HTTP/2: a PING goes out after this long without a byte from the peer (default 30s).",
            get: { $0.wire.http2.pingIntervalMillis }, set: { $0.wire.http2.pingIntervalMillis = $1 }),
        millis(
            "wire.ping_timeout", "HTTP/2: a PING unanswered this long closes the connection (default 10s).",
            get: { $0.wire.http2.pingTimeoutMillis }, set: { $0.wire.http2.pingTimeoutMillis = $1 }),
    ]

    /// The variable for `name`: `ORCHION_` and the name in capitals, dots as `_`.
    static func variableName(_ name: String) -> String {
        "ORCHION_" + name.uppercased().replacingDots
    }

    /// A path: any non-empty text (null or empty leaves the default).
    static func path(_ text: String) -> Result<String, ConfigValueError> { .success(String(text.trimmingSpaces)) }

    /// A scalar key: `parse` reads the text, `set` stores it; null (an
    /// empty value in the file) puts the default back.
    init<Value: Sendable>(
        _ name: String, environment: String? = nil, help: String, form: String, reloadable: Bool = false,
        parse: @escaping @Sendable (String) -> Result<Value, ConfigValueError>,
        get: @escaping @Sendable (ServerConfig) -> Value,
        set: @escaping @Sendable (inout ServerConfig, Value) -> Void,
        render: @escaping @Sendable (Value) -> RenderedValue
    ) {
        self.init(
            name: name, environment: environment ?? Self.variableName(name), help: help, form: form,
            reloadable: reloadable, isList: false,
            apply: { config, input in
                switch input {
                case .null:
                    set(&config, get(ServerConfig()))
                    return .success(())
                case .list:
                    return .failure(ConfigValueError(expected: form, found: "a list"))
                case .text(let text):
                    return parse(text).map { set(&config, $0) }
                }
            }, render: { render(get($0)) })
    }

    static func count(
        _ name: String, _ help: String, minimum: Int, reloadable: Bool = false,
        get: @escaping @Sendable (ServerConfig) -> Int, set: @escaping @Sendable (inout ServerConfig, Int) -> Void,
        maximum: Int = Int.max
    ) -> ConfigKey {
        let form = "a whole number from \(minimum)"
        return ConfigKey(
            name, help: help, form: form, reloadable: reloadable,
            parse: { text in
                let expected = maximum == Int.max ? form : form + " to \(maximum)"
                guard case .success(let value) = ConfigUnits.count(text), value >= minimum, value <= maximum else {
                    return .failure(ConfigValueError(expected: expected, found: text))
                }
                return .success(value)
            }, get: get, set: set, render: { .plain(String($0)) })
    }

    static func duration(
        _ name: String, _ help: String, reloadable: Bool = false,
        get: @escaping @Sendable (ServerConfig) -> Duration,
        set: @escaping @Sendable (inout ServerConfig, Duration) -> Void
    ) -> ConfigKey {
        ConfigKey(
            name, help: help, form: ConfigUnits.durationForm, reloadable: reloadable,
            parse: { text in
                ConfigUnits.duration(text).flatMap {
                    $0 > .zero ? .success($0) : .failure(ConfigValueError(expected: "a duration above 0", found: text))
                }
            }, get: get, set: set, render: { .plain(ConfigUnits.format($0)) })
    }

    /// A duration kept in whole milliseconds (the wire's timeouts).
    static func millis(
        _ name: String, _ help: String, get: @escaping @Sendable (ServerConfig) -> UInt64,
        set: @escaping @Sendable (inout ServerConfig, UInt64) -> Void
    ) -> ConfigKey {
        ConfigKey(
            name, help: help, form: ConfigUnits.durationForm + ", in whole milliseconds",
            parse: { text in
                ConfigUnits.duration(text).flatMap { duration in
                    let (seconds, attos) = duration.components
                    let millis = seconds.multipliedReportingOverflow(by: 1000)
                    guard attos % 1_000_000_000_000_000 == 0, !millis.overflow,
                        millis.partialValue + attos / 1_000_000_000_000_000 >= 1
                    else { return .failure(ConfigValueError(expected: "whole milliseconds from 1ms", found: text)) }
                    return .success(UInt64(millis.partialValue + attos / 1_000_000_000_000_000))
                }
            }, get: get, set: set,
            render: { .plain(ConfigUnits.format(.milliseconds(Int64(clamping: $0)))) })
    }

    static func size(
        _ name: String, _ help: String, reloadable: Bool = false, get: @escaping @Sendable (ServerConfig) -> Int,
        set: @escaping @Sendable (inout ServerConfig, Int) -> Void
    ) -> ConfigKey {
        ConfigKey(
            name, help: help, form: ConfigUnits.sizeForm, reloadable: reloadable,
            parse: { text in
                ConfigUnits.size(text).flatMap {
                    $0 >= 1
                        ? .success($0) : .failure(ConfigValueError(expected: "a size of at least 1 byte", found: text))
                }
            }, get: get, set: set, render: { .plain(ConfigUnits.format(bytes: $0)) })
    }

    /// The range a number must be in.
    enum NumberRange {
        /// Above the bound.
        case greaterThan(Double)
        /// 0 to 1, both included.
        case unit
    }

    static func number(
        _ name: String, _ help: String, range: NumberRange, get: @escaping @Sendable (ServerConfig) -> Double,
        set: @escaping @Sendable (inout ServerConfig, Double) -> Void
    ) -> ConfigKey {
        let form: String
        switch range {
        case .greaterThan(let bound): form = "a number above \(ConfigUnits.format(number: bound))"
        case .unit: form = "a number from 0 to 1"
        }
        return ConfigKey(
            name, help: help, form: form, reloadable: true,
            parse: { text in
                ConfigUnits.number(text).flatMap { value in
                    let fits: Bool
                    switch range {
                    case .greaterThan(let bound): fits = value > bound
                    case .unit: fits = value >= 0 && value <= 1
                    }
                    return fits ? .success(value) : .failure(ConfigValueError(expected: form, found: text))
                }
            }, get: get, set: set, render: { .plain(ConfigUnits.format(number: $0)) })
    }
}

extension String {
    fileprivate var replacingDots: String { String(map { $0 == "." ? "_" : $0 }) }
}
