import ArgumentParser
import OrchionCore
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
                        let header = zip(["SEQ", "TIME", "JOB", "STATE", "ATTEMPT", "NODE", "DETAIL"], Self.widths)
                            .map { $0.padding(to: $1) }.joined(separator: "  ").trailingSpacesRemoved
                        Output.print(style.paint(header, .bold))
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
        let cells = [
            "\(event.sequence)", Human.time(event.at, present: event.hasAt), terminalSafe(event.jobID), state.text,
            event.attempt == 0 ? "-" : "\(event.attempt)", event.nodeID.isEmpty ? "-" : terminalSafe(event.nodeID),
            terminalSafe(detail.joined(separator: ", ")),
        ]
        return zip(cells, widths).enumerated().map { column, pair in
            let padded = pair.0.padding(to: pair.1)
            guard column == 3 else { return padded }
            return style.paint(pair.0, state.colour) + String(repeating: " ", count: padded.count - pair.0.count)
        }.joined(separator: "  ").trailingSpacesRemoved
    }

    /// Column widths for a stream (rows are printed as they come, so not
    /// measured): a sequence, a UTC time, a job id, a state, an attempt, a node.
    static let widths = [6, 23, 22, 9, 7, 12, 0]
}
