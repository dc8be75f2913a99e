import ArgumentParser
import Glibc
import OrchionLoop
import OrchionServer
import Synchronization

/// `orchion up`: a server and a local agent in one command.
///
/// The server runs in this process with `orchion server`'s defaults (state
/// in the user's data directory, the built-in plugins, token files created
/// owner-only when missing) and no system config file unless one is named.
/// The agent runs as a supervised child (`AgentSupervisor`), its state in
/// `<state>/agent`. SIGINT and SIGTERM stop the agent first, then the
/// server. docs/up.md is the user's guide and says why the agent is a child.
struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a server and a local agent: a working one-node cluster in one command.",
        discussion: """
            State (the SQLite store, job logs, the join token and the client tokens, all owner-only) \
            is kept in --state-dir, default $XDG_DATA_HOME/orchion, else ~/.local/share/orchion; the \
            local agent's journal in its agent/ subdirectory. Running `orchion up` again reuses all of \
            it: the same tokens, the same jobs, the same node.

            The server listens on 127.0.0.1:7420, reachable from this machine only. To let other \
            machines join, listen on an address they reach (--listen 0.0.0.0:7420); `orchion up` then \
            prints the command to run on them.

            Run as root, the local agent runs jobs as an unprivileged user (nobody, or --job-user), \
            other users only when allowed (--allow-job-user), root only with --allow-root-jobs; run as \
            another user, it runs jobs as that user. docs/security.md says what a job can reach.

            Ctrl-C (SIGINT) or SIGTERM stops the agent (and, unless --leave-jobs-running, its jobs), \
            then the server, and exits 0. A second Ctrl-C kills the agent at once.

            Server settings beyond these flags come from --config (a server YAML file), ORCHION_* \
            variables and `orchion server`'s keys (see `orchion server --help`).

            Examples:
              orchion up
              orchion up --listen 0.0.0.0:7420 --label room=attic
              orchion up --state-dir ./cluster --plugins-dir ./my-plugins
            """)

    @Option(
        help: ArgumentHelp(
            "The address to listen on (default 127.0.0.1:7420, this machine only; 0.0.0.0:7420 lets other machines join).",
            valueName: "host:port"))
    var listen: String?

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Where the state is kept (default $XDG_DATA_HOME/orchion, else ~/.local/share/orchion).",
            valueName: "dir"))
    var stateDirectory: String?

    @Option(
        name: .customLong("plugins-dir"),
        help: ArgumentHelp(
            "A plugin directory searched first, by the server and the agent (repeatable).", valueName: "dir"))
    var pluginDirectories: [String] = []

    @Option(
        name: .customLong("label"),
        help: ArgumentHelp("A label for the local node, KEY=VALUE (repeatable).", valueName: "key=value"))
    var labels: [String] = []

    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "A server config file (env ORCHION_CONFIG; none by default: /etc/orchion/server.yaml is not read).",
            valueName: "path"))
    var configFile: String?

    @Option(
        name: .customLong("job-user"),
        help: ArgumentHelp(
            "When run as root: the user the local agent runs jobs as when they name none (default nobody).",
            valueName: "user"))
    var jobUser: String?

    @Option(
        name: .customLong("allow-job-user"),
        help: ArgumentHelp("When run as root: another user jobs may name (repeatable).", valueName: "user"))
    var allowedJobUsers: [String] = []

    @Flag(
        name: .customLong("allow-root-jobs"),
        help: "When run as root: let jobs run as root. Off by default: a root job owns this machine.")
    var allowRootJobs = false

    @Flag(
        name: .customLong("leave-jobs-running"),
        help: "On stop, leave the local agent's running jobs running (the next `orchion up` fails them as retryable).")
    var leaveJobsRunning = false

    func validate() throws {
        for label in labels {
            guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
                throw ValidationError("--label expects KEY=VALUE, found '\(label)'")
            }
        }
    }

    func run() throws {
        let environment = ProcessEnvironment.current
        var flags: [ConfigOverride] = []
        if let listen { flags.append(ConfigOverride(key: "listen", value: listen, flag: "--listen")) }
        if let stateDirectory {
            flags.append(ConfigOverride(key: "state_directory", value: stateDirectory, flag: "--state-dir"))
        }
        let sources = ConfigSources(
            file: configFile ?? environment["ORCHION_CONFIG"], defaultFile: nil, environment: environment,
            flags: flags, pluginFlagDirectories: pluginDirectories)
        let config: ServerConfig
        switch ServerConfig.reload(from: sources) {
        case .success(let loaded): config = loaded
        case .failure(let error):
            printError("orchion up: \(error)")
            throw ExitCode(2)
        }
        Output.protect()
        let plan = UpPlan(
            config: config, labels: labels, pluginDirectories: pluginDirectories,
            stopJobsOnExit: !leaveJobsRunning, joinTokenFromEnvironment: environment["ORCHION_JOIN_TOKEN"] != nil,
            jobUsers: UpPlan.JobUsers(
                defaultUser: jobUser, allowed: allowedJobUsers, allowRoot: allowRootJobs, agentIsRoot: geteuid() == 0))
        let slot = SupervisorSlot()
        let hooks = ServerHooks(
            started: { server in
                Output.print(
                    plan.banner(
                        listening: server.address, joinToken: server.tokens.join.secret,
                        caHash: server.tls?.caHash?.description))
                let supervisor = AgentSupervisor(
                    loop: server.loop,
                    arguments: plan.agentArguments(server: server.address, caFile: server.tls?.caFile),
                    stopServer: server.stop)
                slot.set(LoopBound(supervisor, loop: server.loop))
                supervisor.start()
            },
            stopping: { signal, proceed in
                guard let supervisor = slot.get() else { return proceed() }
                supervisor.wrapped.stop(signal: signal, then: proceed)
            })
        let status: Int32
        do {
            status = try ControlPlaneServer.run(config, hooks: hooks)
        } catch {
            printError("orchion up: \(error)")
            throw ExitCode(1)
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Where the server's `started` hook leaves the supervisor for its
/// `stopping` hook.
///
/// Threading: any thread; the supervisor inside is used on its loop only.
final class SupervisorSlot: Sendable {
    private let value = Mutex<LoopBound<AgentSupervisor>?>(nil)

    func set(_ supervisor: LoopBound<AgentSupervisor>) { value.withLock { $0 = supervisor } }
    func get() -> LoopBound<AgentSupervisor>? { value.withLock { $0 } }
}
