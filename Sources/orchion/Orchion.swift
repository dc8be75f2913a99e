import ArgumentParser
import OrchionCore

/// The `orchion` command: control plane, agent and client in one binary.
///
/// Its own `main` so a usage error exits 2 (ArgumentParser's default is 64),
/// as the client commands document.
@main
struct Orchion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Orchion: a local-first orchestrator for homelab clusters.",
        discussion: """
            Client commands (node, job, logs, events, strategy, token) talk to the server at \
            --server, else ORCHION_SERVER, else 127.0.0.1:7420, with the token of --token, \
            else ORCHION_TOKEN, else this machine's client.credential (written by the server on first start).

            EXAMPLES
              orchion job submit -- echo hello
              orchion logs -f j-abc
              orchion node list

            \(ClientExit.reference)
            """,
        version: OrchionVersion.current,
        subcommands: [
            UpCommand.self, NodeCommand.self, JobCommand.self, LogsCommand.self, EventsCommand.self,
            StrategyCommand.self, TokenCommand.self, PluginCommand.self, ServerCommand.self, AgentCommand.self,
            UpAgentCommand.self, CompletionCommand.self,
        ])

    static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: ExitCode(ClientExit.usage))
            }
            exit(withError: error)
        }
    }
}
