import Glibc
import OrchionCore
import OrchionPluginHost

/// The command's own standard output, kept away from plugin code.
///
/// `protect()` moves the real stdout to a new descriptor and points fd 1 at
/// stderr, so whatever a plugin writes to stdout (from a constructor, init
/// or a call) lands on stderr and `--json` output stays parseable. The
/// command writes its answer with `Output.print`. Threading: `protect` runs
/// once, before any plugin code; `print` may run on any thread.
enum Output {
    nonisolated(unsafe) private static var descriptor: Int32 = 1

    /// Saves the real stdout aside and points fd 1 at stderr.
    static func protect() {
        guard descriptor == 1 else { return }
        let saved = fcntl(1, F_DUPFD_CLOEXEC, 10)
        guard saved >= 0 else { return }
        guard dup2(2, 1) >= 0 else {
            close(saved)
            return
        }
        descriptor = saved
    }

    /// Writes `text` and a newline to the command's real stdout.
    static func print(_ text: String) { writeAll(descriptor, Array((text + "\n").utf8)) }
}

/// Aligned plain-text tables.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows.map { $0.map(terminalSafe) }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(to: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension String {
    func padding(to width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

/// Just enough JSON writing for command output, without Foundation.
enum JSON {
    /// `fields` as strings (nil is null), then `raw` values written as given (numbers, booleans).
    static func object(_ fields: [(String, String?)], raw: [(String, String)] = []) -> String {
        let quoted = fields.map { "\(jsonQuoted($0.0)):\($0.1.map(jsonQuoted) ?? "null")" }
        return "{" + (quoted + raw.map { "\(jsonQuoted($0.0)):\($0.1)" }).joined(separator: ",") + "}"
    }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    static func entry(_ entry: PluginEntry) -> String {
        object([
            ("name", entry.info?.name), ("kind", entry.info?.kind.rawValue), ("version", entry.info?.version),
            ("abi", entry.info?.abi), ("description", entry.info?.description), ("file", entry.file),
            ("state", entry.state.label), ("reason", entry.state.reason),
        ])
    }
}
