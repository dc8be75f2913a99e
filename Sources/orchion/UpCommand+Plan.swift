import Glibc
import OrchionLoop
import OrchionServer

/// What `orchion up` runs and prints, worked out from the server's loaded
/// configuration: the local agent's command line and the banner.
///
/// Threading: a value; safe anywhere. `banner` reads the host's interface
/// addresses (a quick system call, no I/O).
struct UpPlan: Sendable {
    let config: ServerConfig
    let labels: [String]
    let pluginDirectories: [String]
    let stopJobsOnExit: Bool
    /// Whether `ORCHION_JOIN_TOKEN` gives the join token (the agent then
    /// inherits it instead of reading the file).
    let joinTokenFromEnvironment: Bool
    /// Who the local agent runs jobs as.
    var jobUsers = JobUsers()

    /// The local agent's job user flags, and whether it runs as root (only
    /// then do they apply).
    struct JobUsers: Sendable {
        var defaultUser: String?
        var allowed: [String] = []
        var allowRoot = false
        var agentIsRoot = false

        /// `--job-user`, `--allow-job-user` and `--allow-root-jobs` as given.
        var arguments: [String] {
            (defaultUser.map { ["--job-user", $0] } ?? []) + allowed.flatMap { ["--allow-job-user", $0] }
                + (allowRoot ? ["--allow-root-jobs"] : [])
        }

        /// The banner's line on who jobs run as.
        var summary: String {
            // Found by attack: as the server's own user, a job can read this
            // state directory, the admin credential included: any token that
            // may submit is then as good as admin. Said where it is decided.
            guard agentIsRoot else {
                return "as you, so a job can read this state directory, tokens included: any token that may "
                    + "submit is as good as admin here (run `orchion up` as root for jobs as an unprivileged user)"
            }
            let others = allowed.isEmpty ? "" : "; jobs may name \(allowed.joined(separator: ", "))"
            let root =
                allowRoot ? "; root jobs ALLOWED (--allow-root-jobs)" : "; root refused (--allow-root-jobs allows it)"
            return "as user \(defaultUser ?? "nobody"), not root\(others)\(root)"
        }
    }

    /// The local agent's state directory: inside the server's.
    var agentStateDirectory: String { config.stateDirectory + "/agent" }

    /// `orchion agent run`'s arguments (after the program) for the local
    /// agent of a server listening on `server`.
    /// With `caFile` (the server speaks TLS), the agent trusts that CA certificate.
    func agentArguments(server: SocketAddress, caFile: String? = nil) -> [String] {
        var arguments = [
            "agent", "run", "--server", Self.localAddress(of: server).description, "--state-dir",
            agentStateDirectory,
        ]
        if let caFile { arguments += ["--ca-cert", caFile] }
        if !joinTokenFromEnvironment { arguments += ["--join-token-file", config.tokens.joinTokenFile] }
        for label in labels { arguments += ["--label", label] }
        for directory in pluginDirectories { arguments += ["--plugins-dir", directory] }
        if !stopJobsOnExit { arguments.append("--leave-jobs-running") }
        return arguments + jobUsers.arguments
    }

    /// The address a process on this machine reaches `listening` at: the
    /// loopback address for a wildcard one.
    static func localAddress(of listening: SocketAddress) -> SocketAddress {
        switch listening.host {
        case "0.0.0.0": SocketAddress(host: "127.0.0.1", port: listening.port)
        case "::": SocketAddress(host: "::1", port: listening.port)
        default: listening
        }
    }

    /// What `orchion up` prints once the server listens on `address`.
    /// `caHash`, when the server speaks TLS, goes into the join command.
    func banner(listening address: SocketAddress, joinToken: String, caHash: String? = nil) -> String {
        let local = Self.localAddress(of: address)
        var lines = [
            "orchion up: the server and a local agent are starting.",
            "  API:            http://\(local)  (REST, SSE and gRPC on one port"
                + (caHash == nil ? ")" : "; TLS too: https://\(local) with the cluster CA)"),
            "  dashboard:      http://\(local)/  (sign in with a client token)",
            "  state:          \(config.stateDirectory)",
            "  client tokens:  \(config.tokens.clientTokensFile)  (owner-only; hashes only: `orchion token create`)",
            "  this CLI:       \(ClientCredentialFile.path(besideClientTokens: config.tokens.clientTokensFile))"
                + "  (owner-only; the admin token `orchion` commands here use)",
            "  join token:     "
                + (joinTokenFromEnvironment
                    ? "from ORCHION_JOIN_TOKEN" : "\(config.tokens.joinTokenFile)  (owner-only; agents present it)"),
            "  local agent:    state in \(agentStateDirectory); "
                + (stopJobsOnExit ? "its jobs are stopped on exit" : "its jobs are left running on exit"),
            "  jobs run:       " + jobUsers.summary,
            "",
        ]
        if ConfigUnits.isLoopback(address.host) {
            lines += [
                "Other machines cannot join: the server listens on \(address.host) only.",
                "To let them, run `orchion up --listen 0.0.0.0:\(address.port)` (or this machine's address).",
            ]
        } else {
            let command = JoinCommand(listening: address, caHash: caHash)
            lines.append("To join another machine, run this there (it carries the join token: treat it as a password):")
            lines.append("   " + command.line(token: joinToken))
            if command.hosts.count > 1 {
                lines.append("(this machine's other addresses: \(command.hosts.dropFirst().joined(separator: ", ")))")
            }
        }
        lines += ["", "Ctrl-C stops the agent, then the server."]
        return lines.joined(separator: "\n")
    }
}
