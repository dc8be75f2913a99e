import ArgumentParser
import COrchionAgent
import Glibc

/// `orchion up-agent --parent PID -- agent run …`: how `orchion up` starts
/// its local agent. Asks the kernel for SIGTERM when the parent dies (so a
/// killed `orchion up` never leaves an agent behind holding the journal;
/// it also checks every second), checks the parent is still `PID`, then runs `orchion agent run` with the
/// arguments after `--`. Hidden: not for people.
struct UpAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up-agent",
        abstract: "The local agent of `orchion up` (started by it; not for direct use).",
        shouldDisplay: false)

    @Option(help: "The process id of the `orchion up` that started this agent.")
    var parent: Int32

    @Argument(parsing: .captureForPassthrough, help: "`agent run` and its arguments.")
    var arguments: [String] = []

    func run() async throws {
        guard orchion_set_parent_death_signal(SIGTERM) == 0 else {
            let reason = String(cString: strerror(errno))
            printError("orchion up-agent: cannot ask for a signal when the parent exits: \(reason)")
            throw ExitCode(1)
        }
        guard getppid() == parent else {
            printError("orchion up-agent: the parent \(parent) is gone; not starting")
            throw ExitCode(1)
        }
        var rest = arguments
        if rest.first == "--" { rest.removeFirst() }
        guard rest.starts(with: ["agent", "run"]) else {
            printError("orchion up-agent: expected `-- agent run …`, found \(rest.prefix(2).joined(separator: " "))")
            throw ExitCode(2)
        }
        var agent: AgentCommand.Run
        do {
            agent = try AgentCommand.Run.parse(Array(rest.dropFirst(2)))
        } catch {
            printError("orchion up-agent: \(AgentCommand.Run.message(for: error))")
            throw ExitCode(2)
        }
        // The kernel's signal follows the parent *thread* that started this
        // process; should it be missed, a parent gone (this process adopted
        // by another) is also noticed within a second, and stops the agent
        // as SIGTERM does.
        let parent = self.parent
        Task.detached {
            while getppid() == parent { try? await Task.sleep(for: .seconds(1)) }
            kill(getpid(), SIGTERM)
        }
        try await agent.run()
    }
}
