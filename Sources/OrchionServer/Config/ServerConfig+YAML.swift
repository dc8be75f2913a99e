extension ServerConfig {
    /// The effective configuration as YAML, every key in `ConfigKey.all`'s
    /// order and sections; a value that is not the default is followed by a
    /// comment saying where it came from. Token files appear as their paths,
    /// never their contents. Loading the text as a config file gives the
    /// same configuration.
    ///
    /// Threading: a value; safe anywhere.
    public var yaml: String {
        var lines = ["# orchion server: effective configuration"]
        var section: String?
        for key in ConfigKey.all {
            if key.section != section {
                section = key.section
                if let section {
                    lines.append("\(section):")
                    if section == "tokens" {
                        lines.append("  # the files hold the tokens; their values are never printed")
                        if sources.environment["ORCHION_JOIN_TOKEN"] != nil {
                            lines.append("  # the join token comes from ORCHION_JOIN_TOKEN, not from join_token_file")
                        }
                    }
                }
            }
            let indent = key.section == nil ? "" : "  "
            let leaf = key.section.map { String(key.name.dropFirst($0.count + 1)) } ?? key.name
            let note = origins[key.name].map { "  # \($0)" } ?? ""
            switch key.render(self) {
            case .plain(let text): lines.append("\(indent)\(leaf): \(text)\(note)")
            case .text(let text): lines.append("\(indent)\(leaf): \(Self.quoted(text))\(note)")
            case .list(let items) where items.isEmpty: lines.append("\(indent)\(leaf): []\(note)")
            case .list(let items):
                lines.append("\(indent)\(leaf):\(note)")
                lines += items.map { "\(indent)  - \(Self.quoted($0))" }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` as a double-quoted YAML scalar.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + String(repeating: "0", count: max(0, 2 - hex.count)) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension ConfigKey.RenderedValue {
    /// The value on one line, for change reports.
    var displayed: String {
        switch self {
        case .plain(let text): return text
        case .text(let text): return ServerConfig.quoted(text)
        case .list(let items): return "[" + items.map(ServerConfig.quoted).joined(separator: ", ") + "]"
        }
    }
}
