import ArgumentParser
import OrchionAgent
import OrchionAgentDaemon

/// `orchion agent …`: the node agent.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The node agent: runs the server's jobs on this host; shows its hardware.",
        subcommands: [Run.self, Discover.self],
        defaultSubcommand: Run.self)

    /// `orchion agent run` (the default): the daemon.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect to the server and run the jobs it assigns to this node.",
            discussion: """
                Settings come from flags, else ORCHION_* variables, else defaults. The join token comes \
                from --join-token-file (env ORCHION_JOIN_TOKEN_FILE; owner-only permissions) or \
                ORCHION_JOIN_TOKEN. The state directory holds the journal: the attempts this node \
                accepted (each runs once) and, while the server is unreachable, the jobs' ends and \
                output until they are delivered.
                """)

        @Option(
            help: ArgumentHelp(
                "The server, HOST:PORT (env ORCHION_SERVER; default 127.0.0.1:7420).", valueName: "host:port"))
        var server: String?
        @Option(
            name: .customLong("join-token-file"),
            help: ArgumentHelp(
                "A file holding the join token, mode 600 (env ORCHION_JOIN_TOKEN_FILE).", valueName: "path"))
        var joinTokenFile: String?
        @Option(
            name: .customLong("node-id"),
            help: ArgumentHelp(
                "This node's id (env ORCHION_NODE_ID; default /etc/machine-id, else the hostname).", valueName: "id"))
        var nodeID: String?
        @Option(
            name: .customLong("label"),
            help: ArgumentHelp("A label to add, KEY=VALUE (repeatable).", valueName: "key=value"))
        var labels: [String] = []
        @Option(
            name: .customLong("plugins-dir"),
            help: ArgumentHelp("A directory searched first for executor plugins (repeatable).", valueName: "dir"))
        var pluginDirectories: [String] = []
        @Option(
            name: .customLong("state-dir"),
            help: ArgumentHelp(
                "The journal and spool (env ORCHION_AGENT_STATE_DIR; default $STATE_DIRECTORY, else ~/.local/share/orchion-agent).",
                valueName: "dir"))
        var stateDirectory: String?
        @Option(
            name: .customLong("ca-cert"),
            help: ArgumentHelp(
                "Connect over TLS, trusting the server's CA certificate in this PEM file (env ORCHION_CA_CERT).",
                valueName: "path"))
        var caCertificateFile: String?
        @Option(
            name: .customLong("ca-hash"),
            help: ArgumentHelp(
                "Connect over TLS, trusting only a server whose CA public key has this hash (env ORCHION_CA_HASH; `orchion up` prints it).",
                valueName: "sha256:hex"))
        var caHash: String?
        @Flag(
            name: .customLong("stop-jobs-on-exit"),
            help: "On SIGTERM, stop running jobs and report their end before exiting.")
        var stopJobsOnExit = false

        func run() async throws {
            var flags = AgentFlags()
            flags.server = server
            flags.joinTokenFile = joinTokenFile
            flags.nodeID = nodeID
            flags.labels = labels
            flags.pluginDirectories = pluginDirectories
            flags.stateDirectory = stateDirectory
            flags.stopJobsOnExit = stopJobsOnExit
            flags.caCertificateFile = caCertificateFile
            flags.caHash = caHash
            let environment = Environment.current
            let settings: AgentSettings
            do throws(AgentSettingsError) {
                settings = try AgentSettings.resolve(flags, environment: environment)
            } catch {
                printError("orchion agent: \(error)")
                throw ExitCode(2)
            }
            let status: Int32
            do {
                status = try await AgentProcess.run(
                    settings, agentVersion: Orchion.configuration.version, notifier: systemdNotifier(),
                    // One line per event, text from the network (a cancel reason) escaped.
                    environment: environment, log: { printError("orchion agent: " + terminalSafe($0)) })
            } catch {
                printError("orchion agent: \(error)")
                // Another agent holds the state directory: a setting to change, not a failure to retry.
                if case .inUse? = error as? JournalError { throw ExitCode(2) }
                throw ExitCode(1)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }

    /// `orchion agent discover`: what this host would report when it registers.
    struct Discover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the hardware discovery finds: CPU, memory, GPUs, accelerators.")

        @Option(help: "Read the kernel's files under this directory instead of /.")
        var root = "/"
        @Option(help: "The NVML library to load (a path or a library name).")
        var nvml = NVML.defaultLibrary
        @Flag(name: .customLong("no-nvml"), help: "Do not load NVML.")
        var noNVML = false
        @Option(name: .customLong("nvidia-smi"), help: "Where nvidia-smi is, under the root.")
        var nvidiaSMI = "/usr/bin/nvidia-smi"
        @Option(name: .customLong("label"), help: "A label to add, KEY=VALUE (repeatable).")
        var labels: [String] = []
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() throws {
            var configured: [String: String] = [:]
            for label in labels {
                guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
                    throw ValidationError("--label expects KEY=VALUE, found '\(label)'")
                }
                configured[String(label[..<equals])] = String(label[label.index(after: equals)...])
            }
            let discovery = HostDiscovery(
                root: HostRoot(root), nvmlLibrary: noNVML ? nil : nvml, nvidiaSMI: nvidiaSMI, labels: configured)
            let inventory = discovery.discover()
            Output.print(json ? inventory.json : Self.describe(inventory))
        }

        /// The inventory as aligned text.
        static func describe(_ inventory: HostInventory) -> String {
            var lines = [
                "hostname:  " + terminalSafe(inventory.hostname),
                "os:        " + terminalSafe(inventory.os),
                "arch:      " + terminalSafe(inventory.arch),
                "cpu:       " + terminalSafe(inventory.cpu.model),
                "cores:     \(inventory.cpu.cores) (\(inventory.cpu.threads) threads)",
                "memory:    " + bytes(inventory.memoryBytes),
            ]
            if let board = inventory.boardModel { lines.append("board:     " + terminalSafe(board)) }
            if !inventory.labels.isEmpty {
                let labels = inventory.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                lines.append("labels:    " + terminalSafe(labels.joined(separator: ", ")))
            }
            lines.append("")
            if inventory.gpus.isEmpty {
                lines.append("GPUs: none")
            } else {
                lines.append(
                    Table.render(
                        header: ["GPU", "VENDOR", "MODEL", "MEMORY", "DRIVER", "SOURCE"],
                        rows: inventory.gpus.map { gpu in
                            [
                                String(gpu.index), gpu.vendor, gpu.model, bytes(gpu.memoryBytes), gpu.driver,
                                gpu.source.rawValue,
                            ]
                        }))
            }
            lines.append("")
            if inventory.accelerators.isEmpty {
                lines.append("accelerators: none")
            } else {
                lines.append(
                    Table.render(
                        header: ["KIND", "MODEL", "COUNT", "DEVICES"],
                        rows: inventory.accelerators.map { accelerator in
                            [
                                accelerator.kind, accelerator.model, String(accelerator.count),
                                accelerator.devices.joined(separator: " "),
                            ]
                        }))
            }
            if !inventory.notes.isEmpty {
                lines.append("")
                lines += inventory.notes.map { "note: " + terminalSafe($0) }
            }
            return lines.joined(separator: "\n")
        }

        /// "24.0 GiB (25757220864 bytes)".
        static func bytes(_ count: UInt64) -> String {
            guard count > 0 else { return "unknown" }
            let tenths = UInt64((Double(count) / Double(1 << 30) * 10).rounded())
            return "\(tenths / 10).\(tenths % 10) GiB (\(count) bytes)"
        }
    }
}
