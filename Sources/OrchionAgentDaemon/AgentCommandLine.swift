import Glibc
import OrchionAgent
import OrchionCore
import OrchionLoop
import OrchionPluginHost

/// The command line of the agent daemon: `orchion agent run` and
/// `orchion-agent` parse the same flags here and run the same way. A small
/// hand parser (no swift-argument-parser), so the agent's own binary links
/// and pages in as little as it can.
///
/// Threading: `main` from the main task; `parse` anywhere.
public enum AgentCommandLine {
    /// What the arguments ask for.
    public enum Request: Sendable, Equatable {
        case run(AgentFlags)
        case help
        case version
    }

    /// The flags and what each means, as `--help` prints them.
    public static func help(program: String) -> String {
        """
        USAGE: \(program) [options]

        Connect to the server and run the jobs it assigns to this node.

        Settings come from flags, else ORCHION_* variables, else defaults. The join
        token comes from --join-token-file (env ORCHION_JOIN_TOKEN_FILE; owner-only
        permissions) or ORCHION_JOIN_TOKEN; it is needed to join. The state directory
        holds the node's own credential (node.credential, issued when it joined and
        used instead of the join token from then on) and the journal: the attempts
        this node accepted (each runs once) and, while the server is unreachable,
        the jobs' ends and output until they are delivered.

        Exit status 77: the server does not let this node in (it was removed with
        `orchion node remove`; `orchion node admit` lets it back).

        OPTIONS:
          --server <host:port>    The server, HOST:PORT (env ORCHION_SERVER; default
                                  127.0.0.1:7420).
          --join-token-file <path>
                                  A file holding the join token, mode 600 (env
                                  ORCHION_JOIN_TOKEN_FILE).
          --node-id <id>          This node's id (env ORCHION_NODE_ID; default
                                  /etc/machine-id, else the hostname).
          --label <key=value>     A label to add, KEY=VALUE (repeatable).
          --plugins-dir <dir>     A directory searched first for executor plugins
                                  (repeatable).
          --state-dir <dir>       The journal and spool (env ORCHION_AGENT_STATE_DIR;
                                  default $STATE_DIRECTORY, else
                                  ~/.local/share/orchion-agent).
          --ca-cert <path>        Connect over TLS, trusting the server's CA
                                  certificate in this PEM file (env ORCHION_CA_CERT).
          --ca-hash <sha256:hex>  Connect over TLS, trusting only a server whose CA
                                  public key has this hash (env ORCHION_CA_HASH;
                                  `orchion up` prints it).
          --plaintext             Connect to a server beyond loopback without TLS,
                                  sending the join token and node credential in the
                                  clear: only over a link that encrypts already
                                  (WireGuard). Without it, a server beyond loopback
                                  needs --ca-hash or --ca-cert.
          --job-user <user>       When the agent runs as root, the user jobs that name
                                  none run as (env ORCHION_AGENT_JOB_USER; default
                                  nobody). It must exist; a uid-0 account needs
                                  --allow-root-jobs. GPU jobs need it in the video
                                  and render groups. Not root: jobs run as the agent.
          --allow-job-user <user> A user jobs may name besides the default one
                                  (repeatable). Any other is refused: the job fails
                                  and says which flag would allow it.
          --allow-root-jobs       Let jobs run as root (any uid-0 account), by
                                  naming it or as --job-user. Off by default: a job
                                  as root owns this machine and the agent.
          --work-dir <dir>        Where jobs that name no working directory get one
                                  each, owned by their user and removed when they
                                  end (env ORCHION_AGENT_WORK_DIR; default
                                  /var/lib/orchion-jobs/<node-id> for a root
                                  agent, else <state-dir>/work).
          --leave-jobs-running    On SIGTERM, leave running jobs running (the next
                                  start stops them and reports them lost). By
                                  default they are stopped and reported lost, so
                                  the server runs them elsewhere.
          --version               Show the version.
          -h, --help              Show help information.

        """
    }

    /// The request `arguments` (without the program name) make. Options take
    /// their value as the next argument or after `=`.
    public static func parse(_ arguments: [String]) throws(AgentSettingsError) -> Request {
        var flags = AgentFlags()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "-h" || argument == "--help" { return .help }
            if argument == "--version" { return .version }
            if argument == "--allow-root-jobs" {
                flags.allowRootJobs = true
                continue
            }
            if argument == "--plaintext" {
                flags.plaintext = true
                continue
            }
            if argument == "--stop-jobs-on-exit" || argument == "--leave-jobs-running" {
                // --stop-jobs-on-exit: the default, still accepted.
                flags.stopJobsOnExit = argument == "--stop-jobs-on-exit"
                continue
            }
            let name: String
            var inline: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            } else {
                name = argument
            }
            guard optionNames.contains(name) else {
                throw .invalid("argument", expected: "one of the options in --help", found: argument)
            }
            guard let value = inline ?? rest.popFirst() else {
                throw .invalid(name, expected: "a value after it", found: "none")
            }
            switch name {
            case "--server": flags.server = value
            case "--join-token-file": flags.joinTokenFile = value
            case "--node-id": flags.nodeID = value
            case "--label": flags.labels.append(value)
            case "--plugins-dir": flags.pluginDirectories.append(value)
            case "--ca-cert": flags.caCertificateFile = value
            case "--ca-hash": flags.caHash = value
            case "--job-user": flags.jobUser = value
            case "--allow-job-user": flags.allowedJobUsers.append(value)
            case "--work-dir": flags.workDirectory = value
            default: flags.stateDirectory = value
            }
        }
        return .run(flags)
    }

    /// The options that take a value.
    static let optionNames: Set<String> = [
        "--server", "--join-token-file", "--node-id", "--label", "--plugins-dir", "--state-dir", "--ca-cert",
        "--ca-hash", "--job-user", "--allow-job-user", "--work-dir",
    ]

    /// Parses `arguments` and runs the agent until SIGTERM or SIGINT; returns
    /// the exit status (2 for bad arguments or settings, 1 when the agent
    /// cannot start). `program` names the command in messages and `--help`.
    public static func main(
        _ arguments: [String], program: String, version: String, linkedExecutors: [PluginLibrary] = []
    ) async -> Int32 {
        let flags: AgentFlags
        do throws(AgentSettingsError) {
            switch try parse(arguments) {
            case .help:
                writeAll(1, help(program: program))
                return 0
            case .version:
                writeAll(1, version + "\n")
                return 0
            case .run(let parsed): flags = parsed
            }
        } catch {
            writeAll(2, "\(program): \(error)\nSee '\(program) --help'.\n")
            return 2
        }
        let environment = ProcessEnvironment.current
        let settings: AgentSettings
        do throws(AgentSettingsError) {
            settings = try AgentSettings.resolve(flags, environment: environment)
        } catch {
            writeAll(2, "\(program): \(error)\n")
            return 2
        }
        do {
            return try await AgentProcess.run(
                settings, agentVersion: version, notifier: systemdNotifier(), environment: environment,
                linkedExecutors: linkedExecutors,
                // One line per event; text from the network (a cancel reason) escaped.
                log: { writeAll(2, "orchion agent: " + terminalSafe($0) + "\n") })
        } catch {
            writeAll(2, "orchion agent: \(error)\n")
            // Another agent holds the state directory: a setting to change, not a failure to retry.
            if case .inUse? = error as? JournalError { return 2 }
            // No default job user, a work directory that is not the agent's: settings too.
            if case .jobs? = error as? ExecutionRuntimeError { return 2 }
            return 1
        }
    }

    /// The service manager's socket, when systemd runs the agent
    /// (`NOTIFY_SOCKET`), as the daemon's notifier.
    static func systemdNotifier() -> ServiceNotifier? {
        guard let socket = NotifySocket.fromEnvironment() else { return nil }
        let watchdog = socket.watchdogInterval.map { interval -> UInt64 in
            let (seconds, attoseconds) = interval.components
            return UInt64(max(seconds, 0)) * 1000 + UInt64(max(attoseconds, 0) / 1_000_000_000_000_000)
        }
        return ServiceNotifier(send: { socket.send($0) }, watchdogMillis: watchdog)
    }

    /// Writes `line` and a newline to standard error.
    public static func printError(_ line: String) { writeAll(2, line + "\n") }

    /// Writes all of `text` to `descriptor` (retrying short writes and EINTR).
    static func writeAll(_ descriptor: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
