// orchion-agent: the node agent on its own, for hosts that only run jobs
// (a Raspberry Pi has no Swift toolchain: this binary is built with the
// Swift runtime linked in). It does what `orchion agent run` does, with the
// same flags (`AgentCommandLine`), and links only the agent's modules — no
// server, SQLite or YAML. The built-in `exec` executor is linked in and
// reached through its C ABI descriptor like any executor `.so`; third-party
// executors load from the plugin directories. See docs/agent-daemon.md.
import ExecExecutor
import Glibc
import OrchionAgentDaemon
import OrchionCore
import OrchionPluginHost

let exec: PluginLibrary
do {
    exec = try PluginLibrary.linked(entry: { orchionPluginEntry() }, file: "linked in")
} catch {
    AgentCommandLine.printError("orchion-agent: the linked-in exec executor was refused: \(error)")
    exit(1)
}
let status = await AgentCommandLine.main(
    Array(CommandLine.arguments.dropFirst()), program: "orchion-agent", version: OrchionVersion.current,
    linkedExecutors: [exec])
exit(status)
