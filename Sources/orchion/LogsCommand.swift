import ArgumentParser
import OrchionPluginHost
import OrchionProto
import OrchionServer

/// `orchion logs JOB [-f]`: a job's output (its latest attempt), stdout to
/// stdout and stderr to stderr, byte for byte.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a job's output; with -f, follow it until the job ends.",
        discussion: """
            Prints the latest attempt's output as the job wrote it: its stdout on stdout, \
            its stderr on stderr. With -f, waits for a pending job's first attempt, then \
            prints new output as it comes and returns when the job ends.

            EXAMPLES
              orchion logs j-abc
              orchion logs -f $(orchion job submit -- sh -c 'for i in 1 2 3; do echo $i; sleep 1; done')

            \(ClientExit.reference)
            """)

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Keep printing new output until the job ends.") var follow = false
    @Option(help: "Start at this byte offset of the attempt's output.") var offset: UInt64 = 0
    @Argument(help: "The job's id.") var id: String

    func run() async throws {
        let request = Orchion_V1_FollowLogsRequest.with {
            $0.jobID = id
            $0.follow = follow
            $0.offset = offset
        }
        try await client.session { connection in
            // A job with no attempt yet, without -f, has no output: the
            // server ends the stream at once. NOT_FOUND comes as an error.
            for try await chunk in connection.stream("FollowLogs", request, as: Orchion_V1_LogChunk.self) {
                writeAll(chunk.stream == .stderr ? 2 : 1, [UInt8](chunk.data))
            }
        }
    }
}
