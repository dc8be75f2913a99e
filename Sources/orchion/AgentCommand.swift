import ArgumentParser
import OrchionAgent
import OrchionAgentDaemon
import OrchionCore

/// `orchion agent …`: the node agent.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The node agent: runs the server's jobs on this host; shows its hardware.",
        subcommands: [Run.self, Discover.self],
        defaultSubcommand: Run.self)

    /// `orchion agent run` (the default): the daemon. Its flags, `--help`
    /// included, are parsed by `AgentCommandLine`, which `orchion-agent`
    /// shares.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect to the server and run the jobs it assigns to this node.",
            discussion: "Its options: orchion agent run --help.",
            helpNames: [])

        @Argument(parsing: .captureForPassthrough, help: "The agent's options (see --help).")
        var arguments: [String] = []

        func run() async throws {
            let status = await AgentCommandLine.main(
                arguments, program: "orchion agent run", version: Orchion.configuration.version)
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
