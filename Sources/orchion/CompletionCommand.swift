import ArgumentParser

/// `orchion completion bash|zsh|fish`: the shell completion script.
struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: """
            EXAMPLES
              orchion completion bash > /etc/bash_completion.d/orchion
              orchion completion zsh > "${fpath[1]}/_orchion"
              orchion completion fish > ~/.config/fish/completions/orchion.fish
            """)

    enum Shell: String, ExpressibleByArgument, CaseIterable { case bash, zsh, fish }

    @Argument(help: "bash, zsh or fish.") var shell: Shell

    func run() throws {
        let kind: CompletionShell =
            switch shell {
            case .bash: .bash
            case .zsh: .zsh
            case .fish: .fish
            }
        Output.print(Orchion.completionScript(for: kind))
    }
}
