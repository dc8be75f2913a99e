// orchion-agent: the node agent on its own, for hosts that only run jobs
// (a Raspberry Pi has no Swift toolchain: this binary is built with the
// Swift runtime linked in). It does what `orchion agent run` does, with the
// same flags (`AgentCommandLine`), and links only the agent's modules — no
// server, SQLite or YAML. The built-in `exec` executor is linked in and
// reached through its C ABI descriptor like any executor `.so`; third-party
// executors load from the plugin directories. See docs/agent-daemon.md.
//
// Not an async main: that parks the main thread in dispatch_main(), which
// ends it with pthread_exit, a forced unwind that reads the binary's unwind
// tables (0.6 MiB of pages, resident for good; see docs/benchmarks.md). The
// agent runs on the concurrency pool; this thread waits for it to exit.
import ExecExecutor
import Glibc
import OrchionAgentDaemon
import OrchionCore
import OrchionPluginHost

let arguments = Array(CommandLine.arguments.dropFirst())
let exec: PluginLibrary
do {
    exec = try PluginLibrary.linked(entry: { orchionPluginEntry() }, file: "linked in")
} catch {
    AgentCommandLine.printError("orchion-agent: the linked-in exec executor was refused: \(error)")
    exit(1)
}
Task.detached {
    let status = await AgentCommandLine.main(
        arguments, program: "orchion-agent", version: OrchionVersion.current, linkedExecutors: [exec])
    exit(status)
}
while true { pause() }
