import ArgumentParser
import Glibc
import OrchionLoop
import OrchionPluginHost

/// `orchion plugin …`: scheduler and executor plugins.
struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "List, inspect and check scheduler and executor plugins.",
        subcommands: [List.self, Inspect.self, Check.self])

    /// Options shared by commands that search the plugin directories.
    struct Search: ParsableArguments {
        @Option(name: .customLong("plugins-dir"), help: "An extra plugin directory, searched first (repeatable).")
        var directories: [String] = []

        var path: [PluginDirectory] {
            PluginDirectory.searchPath(flags: directories, environment: Environment.current)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every plugin found, loaded or refused, and why.")

        @OptionGroup var search: Search
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() {
            let registry = PluginRegistry()
            registry.scan(search.path)
            if json {
                print(JSON.array(registry.entries.map(JSON.entry)))
                return
            }
            print(
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
                print("\n" + problems.map { "refused: \($0)" }.joined(separator: "\n"))
            }
            if registry.entries.isEmpty {
                print("no plugins found in: " + search.path.map(\.path).joined(separator: ", "))
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a plugin's descriptor without running its init.")

        @Argument(help: "The plugin's shared object.") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            do {
                let info = try PluginLibrary.open(file).info
                if json {
                    print(JSON.entry(PluginEntry(file: file, info: info, state: .loaded)))
                } else {
                    print(
                        """
                        name:        \(info.name)
                        kind:        \(info.kind.rawValue)
                        version:     \(info.version)
                        abi:         \(info.abi) (host \(HostABI.major).\(HostABI.minor))
                        description: \(info.description)
                        file:        \(info.file)
                        """)
                }
            } catch {
                printError("refused: \(error)")
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

        func run() async throws {
            var config: [String: String] = [:]
            for setting in settings {
                guard let equals = setting.firstIndex(of: "=") else {
                    throw ValidationError("--config expects KEY=VALUE, found '\(setting)'")
                }
                config[String(setting[..<equals])] = String(setting[setting.index(after: equals)...])
            }
            let library: PluginLibrary
            do { library = try PluginLibrary.open(file) } catch {
                printError("refused: \(error)")
                throw ExitCode(2)
            }
            let thread = try LoopThread()
            let report = await PluginCheck.run(library, loop: thread.loop, config: config)
            try thread.shutdown()
            print(report.lines.joined(separator: "\n"))
            print(report.passed ? "check passed" : "check FAILED")
            if !report.passed { throw ExitCode(1) }
        }
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    let text = Array((line + "\n").utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// The process environment as a dictionary.
enum Environment {
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
