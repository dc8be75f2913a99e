import ArgumentParser

/// The `orchion` command: control plane, agent and client in one binary.
@main
struct Orchion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Orchion: a local-first orchestrator for homelab clusters.",
        version: "0.1.0",
        subcommands: [
            UpCommand.self, PluginCommand.self, ServerCommand.self, AgentCommand.self, UpAgentCommand.self,
        ])
}
