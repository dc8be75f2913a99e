import ArgumentParser
import OrchionCore
import OrchionProto
import SwiftProtobuf

/// `orchion node …`: the cluster's nodes, and taking them in and out of service.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "List and inspect nodes; drain, cordon and return them to service; remove and admit them.",
        discussion: """
            EXAMPLES
              orchion node list
              orchion node show node-1 -o yaml
              orchion node drain node-1     # no new jobs; running ones finish
              orchion node undrain node-1
              orchion node remove node-1    # revoke its credential; it cannot reconnect
              orchion node admit node-1     # let a removed node join again

            \(ClientExit.reference)
            """,
        subcommands: [
            List.self, Show.self, Drain.self, Undrain.self, Cordon.self, Uncordon.self, Remove.self, Admit.self,
        ])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the nodes: state, architecture, CPU, memory and GPUs in use, jobs, labels.",
            discussion: "EXAMPLES\n  orchion node list\n  orchion node list -o json")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let reply: Orchion_V1_ListNodesResponse = try await client.session {
                try await $0.call("ListNodes", Orchion_V1_ListNodesRequest())
            }
            guard client.output == .table else { return Output.print(try Structured.text(reply, client.output)) }
            guard !reply.nodes.isEmpty else {
                return Output.print("no nodes: start an agent with `orchion agent run` (see `orchion up`)")
            }
            Output.print(
                ColumnTable.render(
                    header: ["ID", "HOSTNAME", "STATE", "ARCH", "CPU", "MEMORY", "GPUS", "JOBS", "LABELS"],
                    rows: reply.nodes.map { node in
                        [
                            Cell(node.id), Cell(node.hostname), Human.state(node.state, cordoned: node.cordoned),
                            Cell(node.capabilities.arch),
                            Cell("\(Human.cores(node.allocated.cpuMillis))/\(Human.cores(node.capacity.cpuMillis))"),
                            Cell(
                                "\(Human.bytes(node.allocated.memoryBytes))/\(Human.bytes(node.capacity.memoryBytes))"),
                            Cell("\(node.allocated.gpus)/\(node.capacity.gpus)"), Cell("\(node.jobs)"),
                            Cell(Human.pairs(node.labels)),
                        ]
                    }, style: .standardOutput))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one node: capabilities, GPUs, telemetry, labels.",
            discussion: "EXAMPLES\n  orchion node show node-1\n  orchion node show node-1 -o yaml")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            let node: Orchion_V1_Node = try await client.session {
                try await $0.call("GetNode", Orchion_V1_GetNodeRequest.with { $0.id = id })
            }
            guard client.output == .table else { return Output.print(try Structured.text(node, client.output)) }
            NodeCommand.describe(node)
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop placing jobs on a node; the running ones finish.",
            discussion: "EXAMPLES\n  orchion node drain node-1")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            try await NodeCommand.operate("DrainNode", Orchion_V1_DrainNodeRequest.with { $0.id = id }, client)
        }
    }

    struct Undrain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a drained node take new jobs again (a cordon stays).",
            discussion: "EXAMPLES\n  orchion node undrain node-1")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            try await NodeCommand.operate("UndrainNode", Orchion_V1_UndrainNodeRequest.with { $0.id = id }, client)
        }
    }

    struct Cordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop placing jobs on a node; running ones are untouched.",
            discussion: "EXAMPLES\n  orchion node cordon node-1")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            try await NodeCommand.operate("CordonNode", Orchion_V1_CordonNodeRequest.with { $0.id = id }, client)
        }
    }

    struct Uncordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Return a cordoned or draining node to service.",
            discussion: "EXAMPLES\n  orchion node uncordon node-1")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            try await NodeCommand.operate("UncordonNode", Orchion_V1_UncordonNodeRequest.with { $0.id = id }, client)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a node: revoke its credential, disconnect it, retry its running jobs elsewhere.",
            discussion: """
                The node leaves the list and its agent exits (status 77). Its id is
                remembered: neither its old credential nor a new join with the join
                token lets it back until `orchion node admit`. Other nodes are untouched.

                EXAMPLES
                  orchion node remove node-1
                """)
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            let removed: Orchion_V1_RemovedNode = try await client.session {
                try await $0.call("RemoveNode", Orchion_V1_RemoveNodeRequest.with { $0.id = id })
            }
            guard client.output == .table else { return Output.print(try Structured.text(removed, client.output)) }
            let node = terminalSafe(removed.id)
            let jobs = removed.retriedJobIds.count
            Output.print(
                "node \(node) removed: credential revoked"
                    + (removed.disconnected ? ", disconnected" : "")
                    + ", \(jobs) running \(jobs == 1 ? "job" : "jobs") given back to the queue"
                    + "; `orchion node admit \(node)` lets it join again")
        }
    }

    struct Admit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a removed node join again with the join token.",
            discussion: """
                Its old credential stays revoked: restart its agent with the join token
                (--join-token-file or ORCHION_JOIN_TOKEN) and it gets a new one.

                EXAMPLES
                  orchion node admit node-1
                """)
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            let admitted: Orchion_V1_AdmittedNode = try await client.session {
                try await $0.call("AdmitNode", Orchion_V1_AdmitNodeRequest.with { $0.id = id })
            }
            guard client.output == .table else { return Output.print(try Structured.text(admitted, client.output)) }
            Output.print(
                "node \(terminalSafe(admitted.id)) admitted: its agent may join again with the join token")
        }
    }

    /// Calls `method` and prints the node as it is after.
    static func operate<Request: SwiftProtobuf.Message>(_ method: String, _ request: Request, _ client: ClientOptions)
        async throws
    {
        let node: Orchion_V1_Node = try await client.session { try await $0.call(method, request) }
        guard client.output == .table else { return Output.print(try Structured.text(node, client.output)) }
        let style = Style.standardOutput
        let state = Human.state(node.state, cordoned: node.cordoned)
        Output.print("node \(terminalSafe(node.id)): \(style.paint(state.text, state.colour))")
    }

    static func describe(_ node: Orchion_V1_Node) {
        let style = Style.standardOutput
        let state = Human.state(node.state, cordoned: node.cordoned)
        let capabilities = node.capabilities
        var lines = [
            "ID:          \(terminalSafe(node.id))",
            "Hostname:    \(terminalSafe(node.hostname))",
            "State:       \(style.paint(state.text, state.colour))",
            "Arch/OS:     \(terminalSafe(capabilities.arch))/\(terminalSafe(capabilities.os))",
            "CPU:         \(Human.cores(node.allocated.cpuMillis)) of \(Human.cores(node.capacity.cpuMillis)) cores in use"
                + (capabilities.cpuModel.isEmpty ? "" : " (\(terminalSafe(capabilities.cpuModel)))"),
            "Memory:      \(Human.bytes(node.allocated.memoryBytes)) of \(Human.bytes(node.capacity.memoryBytes)) in use",
            "Jobs:        \(node.jobs)",
            "Labels:      \(node.labels.isEmpty ? "-" : terminalSafe(Human.pairs(node.labels)))",
            "Executors:   \(capabilities.executors.isEmpty ? "-" : terminalSafe(capabilities.executors.joined(separator: ", ")))",
            "Agent:       \(capabilities.agentVersion.isEmpty ? "-" : terminalSafe(capabilities.agentVersion))",
            "Registered:  \(Human.time(node.registeredAt, present: node.hasRegisteredAt))",
            "Heartbeat:   \(Human.age(node.lastHeartbeat, present: node.hasLastHeartbeat)) ago",
        ]
        if node.hasTelemetry {
            let telemetry = node.telemetry
            lines.append(
                "Telemetry:   cpu \(Int((telemetry.cpuUtilization * 100).rounded()))%, memory \(Human.bytes(telemetry.memoryUsedBytes)), load \(telemetry.loadAverage1M)"
            )
        }
        if !capabilities.gpus.isEmpty {
            lines.append("GPUs:")
            lines.append(
                ColumnTable.render(
                    header: ["  INDEX", "VENDOR", "MODEL", "MEMORY", "IN USE"],
                    rows: capabilities.gpus.map { gpu in
                        [
                            Cell("  \(gpu.index)"), Cell(gpu.vendor), Cell(gpu.model),
                            Cell(Human.bytes(gpu.memoryBytes)),
                            Cell(gpu.allocated ? "yes" : "no"),
                        ]
                    }, style: style))
        }
        Output.print(lines.joined(separator: "\n"))
    }
}
