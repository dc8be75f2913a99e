import Glibc
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import OrchionProto
import SwiftProtobuf

/// Terminal colour: only when stdout is a terminal and `NO_COLOR` is unset
/// or empty (no-color.org).
///
/// Threading: values; safe anywhere.
struct Style {
    let enabled: Bool

    static let standardOutput = Style(
        enabled: isatty(1) == 1 && (ProcessEnvironment.current["NO_COLOR"] ?? "").isEmpty)

    enum Colour: String {
        case red = "31"
        case green = "32"
        case yellow = "33"
        case blue = "34"
        case cyan = "36"
        case dim = "2"
        case bold = "1"
    }

    func paint(_ text: String, _ colour: Colour?) -> String {
        guard enabled, let colour, !text.isEmpty else { return text }
        return "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m"
    }
}

/// A table cell: its text (made terminal-safe) and colour.
struct Cell {
    let text: String
    let colour: Style.Colour?

    init(_ text: String, _ colour: Style.Colour? = nil) {
        self.text = terminalSafe(text)
        self.colour = colour
    }
}

/// Aligned tables whose cells may be coloured (padding counts the text only).
enum ColumnTable {
    static func render(header: [String], rows: [[Cell]], style: Style) -> String {
        let all = [header.map { Cell($0, .bold) }] + rows
        let widths = header.indices.map { column in
            all.map { $0.indices.contains(column) ? $0[column].text.count : 0 }.max() ?? 0
        }
        return all.map { row in
            row.enumerated().map { column, cell in
                let padded = column == row.count - 1 ? cell.text : cell.text.padding(to: widths[column])
                guard cell.colour != nil else { return padded }
                return style.paint(cell.text, cell.colour)
                    + String(repeating: " ", count: padded.count - cell.text.count)
            }.joined(separator: "  ").trailingSpacesRemoved
        }.joined(separator: "\n")
    }
}

extension String {
    var trailingSpacesRemoved: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}

/// Messages as JSON (protobuf's canonical mapping) or YAML (the same tree).
enum Structured {
    /// `message` in `format` (json or yaml).
    static func text(_ message: some SwiftProtobuf.Message, _ format: OutputFormat) throws -> String {
        let json = try message.jsonString()
        guard format == .yaml else { return json }
        let value = try Google_Protobuf_Value(jsonString: json)
        return yaml(value).joined(separator: "\n")
    }

    /// The YAML lines of `value`, at indent 0.
    static func yaml(_ value: Google_Protobuf_Value) -> [String] {
        switch value.kind {
        case .structValue(let object):
            guard !object.fields.isEmpty else { return ["{}"] }
            return object.fields.keys.sorted().flatMap { key -> [String] in
                let item = object.fields[key] ?? Google_Protobuf_Value()
                let name = scalar(key)
                if let inline = inline(item) { return ["\(name): \(inline)"] }
                let nested = yaml(item)
                if case .listValue = item.kind { return ["\(name):"] + nested }
                return ["\(name):"] + nested.map { "  " + $0 }
            }
        case .listValue(let list):
            guard !list.values.isEmpty else { return ["[]"] }
            return list.values.flatMap { item -> [String] in
                if let inline = inline(item) { return ["- \(inline)"] }
                let nested = yaml(item)
                return nested.enumerated().map { index, line in (index == 0 ? "- " : "  ") + line }
            }
        default:
            return [inline(value) ?? "null"]
        }
    }

    /// A scalar (or empty collection) on one line; nil for a nested one.
    private static func inline(_ value: Google_Protobuf_Value) -> String? {
        switch value.kind {
        case .nullValue, .none: "null"
        case .boolValue(let flag): flag ? "true" : "false"
        case .numberValue(let number):
            number == number.rounded() && abs(number) < 9e15 ? String(Int64(number)) : String(number)
        case .stringValue(let text): scalar(text)
        case .structValue(let object): object.fields.isEmpty ? "{}" : nil
        case .listValue(let list): list.values.isEmpty ? "[]" : nil
        }
    }

    /// `text` plain when YAML reads it back as the same string, else quoted.
    private static func scalar(_ text: String) -> String {
        let plain =
            !text.isEmpty && text.first.map { $0.isLetter || $0 == "/" || $0 == "." || $0 == "_" } == true
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./@ ".contains($0)) }
            && text.last != " "
            && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(text.lowercased())
        guard !plain else { return text }
        return jsonQuoted(text)
    }
}

/// Short human forms of the API's values.
enum Human {
    static func state(_ state: Orchion_V1_JobState) -> Cell {
        switch state {
        case .pending: Cell("pending", .yellow)
        case .scheduled: Cell("scheduled", .cyan)
        case .running: Cell("running", .blue)
        case .succeeded: Cell("succeeded", .green)
        case .failed: Cell("failed", .red)
        case .cancelled: Cell("cancelled", .dim)
        case .lost: Cell("lost", .red)
        default: Cell("unknown")
        }
    }

    static func state(_ state: Orchion_V1_NodeState, cordoned: Bool) -> Cell {
        let name: Cell =
            switch state {
            case .ready: Cell("ready", .green)
            case .draining: Cell("draining", .yellow)
            case .suspect: Cell("suspect", .yellow)
            case .down: Cell("down", .red)
            default: Cell("unknown")
            }
        return cordoned ? Cell(name.text + ",cordoned", .yellow) : name
    }

    /// 1.5Gi, 512Mi, 4.0Ki, 100B.
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "Ki", "Mi", "Gi", "Ti", "Pi"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(count)B" }
        let tenths = (value * 10).rounded() / 10
        return tenths == tenths.rounded() ? "\(Int(tenths))\(units[unit])" : "\(tenths)\(units[unit])"
    }

    /// CPU millis as cores: 2, 0.5, 1.25.
    static func cores(_ millis: UInt64) -> String {
        millis % 1000 == 0 ? "\(millis / 1000)" : String(Double(millis) / 1000)
    }

    /// How long ago `timestamp` was, from now: 5s, 3m, 2h, 4d; "-" when unset.
    static func age(_ timestamp: Google_Protobuf_Timestamp, present: Bool) -> String {
        guard present, timestamp.seconds > 0 else { return "-" }
        let seconds = max(0, Int64(Glibc.time(nil)) - timestamp.seconds)
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }

    /// UTC, `2026-11-29 16:40:05`; "-" when unset.
    static func time(_ timestamp: Google_Protobuf_Timestamp, present: Bool) -> String {
        guard present else { return "-" }
        var seconds = time_t(timestamp.seconds)
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "\(timestamp.seconds)" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// The command a spec runs, as one line.
    static func command(_ spec: Orchion_V1_JobSpec) -> String {
        if !spec.command.isEmpty { return spec.command }
        return spec.argv.map { argument in
            argument.isEmpty || argument.contains(where: { " \t\"'\\$`".contains($0) })
                ? "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''")
                    + "'"
                : argument
        }.joined(separator: " ")
    }

    /// `key=value,…` sorted by key.
    static func pairs(_ map: [String: String]) -> String {
        map.keys.sorted().map { "\($0)=\(map[$0] ?? "")" }.joined(separator: ",")
    }
}

/// A one-line counter on stderr, redrawn in place, only when stderr is a
/// terminal; silent otherwise (scripts, CI logs).
///
/// Threading: one task at a time.
final class Progress {
    private let enabled = isatty(2) == 1
    private var lastDraw: Int64 = 0
    private var drawn = false

    /// Shows `line` (at most ten times a second unless `force`).
    func show(_ line: String, force: Bool = false) {
        guard enabled else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let millis = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        guard force || millis - lastDraw >= 100 else { return }
        lastDraw = millis
        drawn = true
        writeAll(2, Array("\r\u{1B}[K\(line)".utf8))
    }

    /// Clears the line.
    func finish() {
        guard enabled, drawn else { return }
        writeAll(2, Array("\r\u{1B}[K".utf8))
        drawn = false
    }
}
