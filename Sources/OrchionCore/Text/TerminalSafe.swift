/// `text` made safe to print on one terminal line: control characters
/// (C0, DEL, C1), line and paragraph separators and bidirectional overrides
/// are shown as escapes, so text a plugin or a peer chose can
/// neither start a line of its own nor move the cursor or recolour the
/// terminal. Invalid UTF-8 never reaches here: it was decoded with
/// replacement characters or refused.
public func terminalSafe(_ text: String) -> String {
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
