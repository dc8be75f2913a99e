// orchion-footprint: `orchion-bench footprint` linked with only what the agent
// needs (OrchionAgent, OrchionAgentProto, OrchionWire, OrchionProto,
// OrchionLoop, OrchionPluginHost; no server, SQLite or Yams), for the
// footprint rows of .ci/bench. In the package only when ORCHION_FOOTPRINT=1.
//
// Usage: orchion-footprint HOST:PORT TOKEN_FILE [--executor FILE]
import Glibc

let arguments = Array(CommandLine.arguments.dropFirst())
Task.detached {
    do {
        try await footprintAgent(arguments)
    } catch {
        standardError("orchion-footprint: \(error)\n")
        exit(1)
    }
}
while true { pause() }  // the agent runs on the concurrency pool; this thread just waits
