import ArgumentParser
import OrchionCore
import OrchionProto

/// `orchion strategy show|set NAME`: the default scheduling strategy.
struct StrategyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strategy",
        abstract: "Show or set the default scheduling strategy.",
        discussion: """
            Strategies are scheduler plugins; `orchion plugin list --server ADDR` shows them \
            with their state. A job may name its own (`orchion job submit --strategy NAME`).

            EXAMPLES
              orchion strategy show
              orchion strategy set spread

            \(ClientExit.reference)
            """,
        subcommands: [Show.self, Set.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the default strategy and those jobs may name.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let settings: Orchion_V1_SchedulerSettings = try await client.session {
                try await $0.call("GetScheduler", Orchion_V1_GetSchedulerRequest())
            }
            StrategyCommand.print(settings, client.output)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make NAME the strategy for jobs that name none.",
            discussion: "EXAMPLES\n  orchion strategy set bin-packing")
        @OptionGroup var client: ClientOptions
        @Argument(help: "A loaded strategy's name.") var name: String

        func run() async throws {
            let settings: Orchion_V1_SchedulerSettings = try await client.session {
                try await $0.call("SetScheduler", Orchion_V1_SetSchedulerRequest.with { $0.defaultStrategy = name })
            }
            StrategyCommand.print(settings, client.output)
        }
    }

    static func print(_ settings: Orchion_V1_SchedulerSettings, _ format: OutputFormat) {
        guard format == .table else {
            return Output.print((try? Structured.text(settings, format)) ?? "{}")
        }
        let style = Style.standardOutput
        Output.print(
            settings.strategies.sorted().map { name in
                name == settings.defaultStrategy
                    ? style.paint("* \(terminalSafe(name)) (default)", .green) : "  \(terminalSafe(name))"
            }.joined(separator: "\n"))
    }
}
