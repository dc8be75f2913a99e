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
// tables (0.65 MiB of pages, resident for good; docs/benchmarks.md). The
// agent runs in a task; this thread waits, taking the process's signals.
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
let arguments = Array(CommandLine.arguments.dropFirst())
Task.detached {
    let status = await AgentCommandLine.main(
        arguments, program: "orchion-agent", version: OrchionVersion.current, linkedExecutors: [exec])
    exit(status)
}
// This thread takes the process's signals (libuv's handlers only write to
// its loop's pipe): the agent's threads descend from libdispatch workers,
// which block them, SIGCHLD and SIGTERM included.
var none = sigset_t()
sigemptyset(&none)
pthread_sigmask(SIG_SETMASK, &none, nil)
while true { pause() }
