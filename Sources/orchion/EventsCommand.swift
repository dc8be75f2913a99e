import ArgumentParser
import OrchionProto
import OrchionServer

/// `orchion events [-f]`: job state changes, as the server retains them,
/// and with -f as they happen.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print job events (state changes); with -f, keep printing new ones.",
        discussion: """
            -o json and -o yaml print one event per line (JSON Lines) or document.

            EXAMPLES
              orchion events
              orchion events -f --job j-abc
              orchion events -f -o json | jq .state

            \(ClientExit.reference)
            """)

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Keep printing new events as they happen.") var follow = false
    @Option(help: "Only this job's events (with -f, until it ends).") var job: String?
    @Option(help: "Only events after this sequence number.") var after: UInt64 = 0

    func run() async throws {
        let request = Orchion_V1_WatchEventsRequest.with {
            $0.jobID = job ?? ""
            $0.after = after
            $0.replayOnly = !follow
        }
        let format = client.output
        let style = Style.standardOutput
        try await client.session { connection in
            var first = true
            for try await event in connection.stream("WatchEvents", request, as: Orchion_V1_JobEvent.self) {
                switch format {
                case .json: Output.print(try event.jsonString())
                case .yaml:
                    Output.print((first ? "" : "---\n") + (try Structured.text(event, .yaml)))
                case .table:
                    if first {
                        Output.print(
                            style.paint(
                                ["SEQ", "TIME", "JOB", "STATE", "ATTEMPT", "NODE", "DETAIL"].joined(separator: "  "),
                                .bold))
                    }
                    Output.print(Self.line(event, style: style))
                }
                first = false
            }
        }
    }

    static func line(_ event: Orchion_V1_JobEvent, style: Style) -> String {
        let state = Human.state(event.state)
        var detail: [String] = []
        if event.state.isEnded || event.state == .lost {
            if event.signal != 0 {
                detail.append("signal \(event.signal)")
            } else {
                detail.append("exit \(event.exitCode)")
            }
        }
        if event.timedOut { detail.append("timed out") }
        if event.retryable { detail.append("will retry") }
        if !event.reason.isEmpty { detail.append(event.reason) }
        return [
            "\(event.sequence)", Human.time(event.at, present: event.hasAt), terminalSafe(event.jobID),
            style.paint(state.text, state.colour), event.attempt == 0 ? "-" : "\(event.attempt)",
            event.nodeID.isEmpty ? "-" : terminalSafe(event.nodeID), terminalSafe(detail.joined(separator: ", ")),
        ].joined(separator: "  ").trailingSpacesRemoved
    }
}
