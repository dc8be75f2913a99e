import OrchionControl
import OrchionLoop
import OrchionPluginHost
import OrchionWire

/// Every setting of `orchion server`, with its default.
///
/// Built by `ServerConfig.load(_:)` from, lowest to highest precedence: the
/// defaults below, the YAML file, `ORCHION_*` environment variables and
/// command-line flags (`ConfigKey.all` lists every key with its file name,
/// variable and meaning). A loaded value has been checked: every key known,
/// every value of the right type and unit and in range, the state directory
/// and token file paths resolved (relative paths against the working
/// directory). docs/configuration.md is the operator's guide.
///
/// Threading: a value; safe anywhere.
public struct ServerConfig: Sendable {
    /// The address the API (REST, SSE and gRPC on one port) listens on.
    /// Default `127.0.0.1:7420`; anything but loopback is allowed and adds a
    /// warning (`warnings`) that the server logs. Port 0 picks a free port.
    public var listen = SocketAddress(host: "127.0.0.1", port: 7420)

    /// Where the server keeps its state (the SQLite file, job logs, token
    /// files): the configured directory, else `$STATE_DIRECTORY`, else
    /// `$XDG_DATA_HOME/orchion`, else `~/.local/share/orchion`
    /// (`StateDirectory.resolve`). Resolved when loaded.
    public var stateDirectory = ""

    /// The directories scheduler and executor plugins are loaded from, first
    /// match wins on duplicate names. Default: the standard search path
    /// (`PluginDirectory.searchPath`: `ORCHION_PLUGINS_PATH` and the user
    /// directory unless root, `<prefix>/lib/orchion/plugins`, the built-ins
    /// beside a development build). `plugin_directories` in the file or
    /// `ORCHION_PLUGIN_DIRECTORIES` replace it; `--plugins-dir` adds
    /// directories searched before it, as it does for `orchion plugin list`.
    public var pluginDirectories: [PluginDirectory] = []

    /// Whether a plugin file dropped into (or replaced in) a plugin
    /// directory while the server runs is loaded without a restart.
    public var hotLoadPlugins = true

    /// How much the server logs: `debug`, `info`, `warning` or `error`.
    public var logLevel = LogLevel.info

    /// The scheduling loop.
    public var scheduler = SchedulerSettings()

    /// How often agents heartbeat and when a silent node turns suspect and
    /// down (`HeartbeatPolicy` has the rule and its defaults).
    public var heartbeat = HeartbeatPolicy()

    /// Where the agents' join token and the clients' API tokens are kept.
    public var tokens = TokenSettings()

    /// Job output kept on disk.
    public var logs = LogSettings()

    /// TLS on the API port and the cluster CA (`tls.*`).
    public var tls = TLSSettings()

    /// Events kept for the event stream's `after=` resumption. Default 100,000.
    public var eventRetention = 100_000

    /// Whether `GET /metrics` needs a client token like the API (default
    /// false: served without one, like `/healthz`).
    public var metricsRequireToken = false

    /// Bounds on what a peer may send and what the server holds for it.
    /// The operator-tunable ones are config keys (`wire.*`); the rest keep
    /// `WireLimits`' defaults.
    public var wire = WireLimits()

    /// Where each value that is not a default came from, by key name
    /// (`scheduler.default_strategy`).
    public internal(set) var origins: [String: ConfigOrigin] = [:]

    /// What this configuration was loaded from, for `reload()`.
    public internal(set) var sources = ConfigSources()

    /// The defaults, with nothing resolved (no state directory, no plugin
    /// search path): what `load` starts from.
    public init() {}

    /// The scheduling loop's settings.
    ///
    /// Threading: a value; safe anywhere.
    public struct SchedulerSettings: Sendable, Hashable {
        /// The strategy plugin jobs without a strategy of their own are
        /// placed by. Default `bin-packing`. Changeable at runtime.
        public var defaultStrategy = "bin-packing"
        /// Pending jobs handed to a strategy in one `place` call. Default 256.
        public var batchSize = 256
        /// The longest one `place` call may take before its plugin is
        /// quarantined. Default 1s.
        public var pluginBudget = Duration.seconds(1)
        /// How long a `place` may run without returning before its thread is
        /// abandoned. Default 10s.
        public var hangLimit = Duration.seconds(10)
        /// Consecutive bad rounds that quarantine a plugin. Default 3.
        public var failureLimit = 3

        public init() {}
    }

    /// Token file locations. The files themselves are read (and created
    /// when missing) by `ServerTokens.load`.
    ///
    /// Threading: a value; safe anywhere.
    public struct TokenSettings: Sendable, Hashable {
        /// The agents' join token. Default `<state>/join.token`.
        /// `ORCHION_JOIN_TOKEN` overrides the file's contents.
        public var joinTokenFile = ""
        /// The clients' named API tokens. Default `<state>/client.tokens`.
        public var clientTokensFile = ""

        public init() {}
    }

    /// Job output on disk.
    ///
    /// Threading: a value; safe anywhere.
    public struct LogSettings: Sendable, Hashable {
        /// Where per-job output files go. Default `<state>/logs`.
        public var directory = ""
        /// Output kept per job attempt; later output is dropped (and the
        /// drop noted). Default 64 MiB.
        public var maxBytesPerAttempt = 64 << 20
        /// All job output together; the oldest files go first above it.
        /// Default 4 GiB.
        public var retentionBytes = 4 << 30
        /// Output older than this is removed. Default 7 days.
        public var retentionAge = Duration.seconds(7 * 86_400)

        public init() {}
    }

    /// TLS on the API port: when it is on, whose certificate it serves,
    /// and whether plaintext is served beyond loopback. `TLSPolicy.decide`
    /// turns these and `listen` into what the server does.
    ///
    /// Threading: a value; safe anywhere.
    public struct TLSSettings: Sendable, Hashable {
        /// `auto` (default): TLS when listening beyond loopback; `on`: TLS
        /// always (plaintext still served to loopback peers); `off`: no TLS,
        /// which beyond loopback needs `allowPlaintextBeyondLoopback`.
        public var mode = TLSMode.auto
        /// A certificate chain (PEM, leaf first) to serve instead of the
        /// cluster CA's server certificate; with `keyFile`.
        public var certificateFile = ""
        /// The private key (PEM, owner-only) of `certificateFile`.
        public var keyFile = ""
        /// Serve plaintext to peers beyond loopback (logged as a warning at start).
        public var allowPlaintextBeyondLoopback = false
        /// More names and addresses for the server certificate's subject
        /// alternative names, beyond the host name, `localhost`, loopback
        /// and the host's addresses.
        public var extraNames: [String] = []
        /// Where the cluster CA and the server certificate are kept.
        /// Default `<state>/tls`.
        public var directory = ""

        public init() {}
    }

    /// Whether the API port speaks TLS.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case auto, on, off
    }

    /// How much the server logs.
    public enum LogLevel: String, Sendable, Hashable, CaseIterable, Comparable {
        case debug, info, warning, error

        public static func < (a: LogLevel, b: LogLevel) -> Bool {
            allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
        }
    }

    /// Things the operator should know about this configuration, one line
    /// each, for the server to log at start: an address other machines can
    /// reach, a join token taken from the environment.
    public var warnings: [String] {
        var lines: [String] = []
        if !ConfigUnits.isLoopback(listen.host) {
            lines.append("listening on \(listen): reachable from other machines")
        }
        if tls.allowPlaintextBeyondLoopback && !ConfigUnits.isLoopback(listen.host) {
            lines.append(
                "PLAINTEXT ALLOWED BEYOND LOOPBACK (tls.allow_plaintext_beyond_loopback): join tokens, client tokens and job data may cross the network unencrypted"
            )
        }
        if sources.environment["ORCHION_JOIN_TOKEN"] != nil {
            lines.append("the join token comes from ORCHION_JOIN_TOKEN, not from \(tokens.joinTokenFile)")
        }
        return lines
    }

}
