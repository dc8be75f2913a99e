import ArgumentParser
import Glibc
import OrchionAgent
import OrchionCore
import OrchionLoop
import OrchionPluginHost

/// `orchion plugin …`: scheduler and executor plugins.
///
/// Every command that runs plugin code (`dlopen` runs constructors) runs it
/// in a child copy of `orchion` (`ChildProbe`), so a plugin that exits,
/// crashes or hangs is reported as refused and the command goes on; and
/// plugin code never writes into this command's stdout (`Output`).
struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "List, inspect and check scheduler and executor plugins.",
        subcommands: [List.self, Inspect.self, Check.self, Probe.self])

    /// Options shared by commands that search the plugin directories.
    struct Search: ParsableArguments {
        @Option(name: .customLong("plugins-dir"), help: "An extra plugin directory, searched first (repeatable).")
        var directories: [String] = []

        @Flag(
            name: .customLong("search-user-dirs"),
            help: "As root, also search ORCHION_PLUGINS_PATH and the user's plugin directory.")
        var userDirectoriesAsRoot = false

        @Option(name: .customLong("probe-timeout"), help: "Seconds one file may take to load before it is refused.")
        var probeTimeout = 10

        var path: [PluginDirectory] {
            PluginDirectory.searchPath(
                flags: directories, environment: ProcessEnvironment.current,
                userDirectoriesAsRoot: userDirectoriesAsRoot)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every plugin found, loaded or refused, and why.",
            discussion: """
                Without --server, searches the plugin directories of this machine. With --server, \
                lists what a running server reports (gRPC ListPlugins): loaded, refused and \
                quarantined plugins, and the default strategy. The client token comes from \
                --token-file (owner-only permissions), else ORCHION_TOKEN, else the saved \
                client token the other client commands use.
                """)

        @OptionGroup var search: Search
        @Flag(help: "Print JSON instead of a table.") var json = false
        @Option(help: "List the plugins of the server at HOST:PORT (e.g. 127.0.0.1:7420) instead.")
        var server: String?
        @Option(
            name: .customLong("token-file"),
            help: "A file holding the client token for --server (mode 600); else ORCHION_TOKEN, else the saved one.")
        var tokenFile: String?

        func run() async throws {
            if let server {
                do throws(RemotePlugins.Failure) {
                    try await RemotePlugins.run(server: server, tokenFile: tokenFile, json: json)
                } catch {
                    printError("orchion plugin list: \(error.description)")
                    throw ExitCode.failure
                }
                return
            }
            Output.protect()
            ChildProbe.becomeSubreaper()
            let registry = PluginRegistry()
            let prober = pluginProbe(timeoutSeconds: search.probeTimeout)
            registry.probeAll(search.path) { files in prober.probeAll(files) }
            if json {
                Output.print(JSON.array(registry.entries.map(JSON.entry)))
                return
            }
            Output.print(
                Table.render(
                    header: ["NAME", "KIND", "VERSION", "ABI", "STATE", "FILE"],
                    rows: registry.entries.map { entry in
                        [
                            entry.info?.name ?? "-", entry.info?.kind.rawValue ?? "-", entry.info?.version ?? "-",
                            entry.info?.abi ?? "-", entry.state.label, entry.file,
                        ]
                    }))
            let problems = registry.entries.compactMap(\.state.reason)
            if !problems.isEmpty {
                Output.print("\n" + problems.map { "refused: " + terminalSafe($0) }.joined(separator: "\n"))
            }
            if registry.entries.isEmpty {
                Output.print(
                    "no plugins found in: " + search.path.map { terminalSafe($0.path) }.joined(separator: ", "))
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a plugin's descriptor without running its init.")

        @Argument(help: "The plugin's shared object.") var file: String
        @Flag(help: "Print JSON.") var json = false
        @Option(name: .customLong("probe-timeout"), help: "Seconds the file may take to load before it is refused.")
        var probeTimeout = 10

        func run() throws {
            Output.protect()
            ChildProbe.becomeSubreaper()
            switch probeDescriptor(file, timeoutSeconds: probeTimeout) {
            case .success(let info):
                if json {
                    Output.print(JSON.entry(PluginEntry(file: file, info: info, state: .loaded)))
                } else {
                    Output.print(
                        """
                        name:        \(terminalSafe(info.name))
                        kind:        \(info.kind.rawValue)
                        version:     \(terminalSafe(info.version))
                        abi:         \(info.abi) (host \(HostABI.major).\(HostABI.minor))
                        description: \(terminalSafe(info.description))
                        file:        \(terminalSafe(info.file))
                        """)
                }
            case .failure(let error):
                printError("refused: " + terminalSafe(error.description))
                throw ExitCode(2)
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load, initialise and exercise a plugin against synthetic work.")

        @Argument(help: "The plugin's shared object.") var file: String
        @Option(name: .customLong("config"), help: "A config value for the plugin, KEY=VALUE (repeatable).")
        var settings: [String] = []
        @Option(name: .customLong("budget-ms"), help: "The time one place() call may take, in milliseconds.")
        var budgetMillis = 1000
        @Option(name: .customLong("timeout"), help: "Seconds the whole check may take before it is stopped.")
        var timeout = 120
        @Flag(help: .private) var child = false

        func run() async throws {
            var config: [String: String] = [:]
            for setting in settings {
                guard let equals = setting.firstIndex(of: "=") else {
                    throw ValidationError("--config expects KEY=VALUE, found '\(setting)'")
                }
                config[String(setting[..<equals])] = String(setting[setting.index(after: equals)...])
            }
            if child {
                try await runChild(config: config)
                return
            }
            Output.protect()
            ChildProbe.becomeSubreaper()
            let arguments =
                ["plugin", "check", "--child", file, "--budget-ms", String(budgetMillis)]
                + settings.flatMap { ["--config", $0] }
            let outcome: ChildProbe.Outcome
            let (millis, overflow) = max(1, timeout).multipliedReportingOverflow(by: 1000)
            switch ChildProbe.run(arguments, timeoutMillis: overflow ? Int.max : millis) {
            case .success(let result): outcome = result
            case .failure(let error):
                printError("error: \(error)")
                throw ExitCode(2)
            }
            var phase = "loading"
            var verdict: String?
            for record in outcome.records {
                switch (record.first, record.count) {
                case ("phase", 2): phase = record[1]
                case ("line", 2): Output.print(terminalSafe(record[1]))
                case ("refused", 2):
                    printError("refused: " + terminalSafe(record[1]))
                    throw ExitCode(2)
                case ("done", 2): verdict = record[1]
                default: break
                }
            }
            guard let verdict else {
                let when = phase == "loading" ? "while loading" : "during \(phase)"
                Output.print("FAIL  plugin \(outcome.ending) \(when)")
                Output.print("check FAILED")
                throw ExitCode(1)
            }
            Output.print(verdict == "passed" ? "check passed" : "check FAILED")
            if verdict != "passed" { throw ExitCode(1) }
        }

        /// The check itself, in the child: answers on ChildProbe's descriptor.
        private func runChild(config: [String: String]) async throws {
            _ = fcntl(ChildProbe.resultDescriptor, F_SETFD, FD_CLOEXEC)
            ChildProbe.answer(["phase", "loading"])
            let library: PluginLibrary
            do { library = try PluginLibrary.open(file) } catch {
                ChildProbe.answer(["refused", error.description])
                return
            }
            ChildProbe.answer(["phase", "init"])
            let thread = try LoopThread()
            var settings = ExecutionSettings(spillDirectory: getenv("TMPDIR").map { String(cString: $0) } ?? P_tmpdir)
            settings.cgroups = .off
            settings.killGraceMillis = 500
            let runtime = try ExecutionRuntime(settings: settings, executors: ExecutorCatalog(), log: { _ in })
            defer { runtime.shutdown() }
            let report = await PluginCheck.run(
                library, loop: thread.loop, config: config, budgetMillis: budgetMillis,
                runJob: JobRunner.checkRunner(runtime: runtime)
            ) { progress in
                switch progress {
                case .line(let line): ChildProbe.answer(["line", line])
                case .phase(let name): ChildProbe.answer(["phase", name])
                }
            }
            try thread.shutdown()
            ChildProbe.answer(["done", report.passed ? "passed" : "failed"])
        }
    }

    /// Opens one file and answers its descriptor or refusal on ChildProbe's
    /// descriptor: the child half of `list` and `inspect`.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open one plugin file in this process and report it to the parent.", shouldDisplay: false)

        @Argument var file: String

        func run() { PluginProbe.answer(for: file) }
    }
}

/// Opens `file` in a child `orchion plugin probe` (see `PluginProbe`).
func probeDescriptor(_ file: String, timeoutSeconds: Int) -> Result<PluginInfo, PluginError> {
    pluginProbe(timeoutSeconds: timeoutSeconds).probe(file)
}

/// A `PluginProbe` that gives each file `timeoutSeconds`.
func pluginProbe(timeoutSeconds: Int) -> PluginProbe {
    let (millis, overflow) = max(1, timeoutSeconds).multipliedReportingOverflow(by: 1000)
    return PluginProbe(timeoutMillis: overflow ? Int.max : millis)
}

/// Writes a line to standard error.
func printError(_ line: String) { writeAll(2, Array((line + "\n").utf8)) }
