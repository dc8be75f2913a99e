import OrchionCore
import OrchionPluginHost

/// Aligned plain-text tables.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
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
    static func object(_ fields: [(String, String?)]) -> String {
        "{" + fields.map { "\(jsonQuoted($0.0)):\($0.1.map(jsonQuoted) ?? "null")" }.joined(separator: ",") + "}"
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
