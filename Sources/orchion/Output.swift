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

/// `text` made safe to print on one terminal line: control characters
/// (C0, DEL, C1), line and paragraph separators and bidirectional overrides
/// are shown as escapes, so text a plugin chose can
/// neither start a line of its own nor move the cursor or recolour the
/// terminal. Invalid UTF-8 never reaches here: it was decoded with
/// replacement characters or refused.
func terminalSafe(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x00..<0x20, 0x7F..<0xA0:
            let hex = String(scalar.value, radix: 16)
            out += "\\x" + (hex.count < 2 ? "0" : "") + hex
        case 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF:
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
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
