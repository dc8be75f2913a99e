#if canImport(Glibc)
    import Glibc
#endif

/// The server's log: one line per event on standard error, with a level and
/// a UTC timestamp, for journald or a terminal. Never given a secret.
///
/// Threading: any thread (each line is one `write`).
enum ServerLog {
    static func info(_ message: String) { write("info", message) }
    static func warning(_ message: String) { write("warning", message) }
    static func error(_ message: String) { write("error", message) }

    private static func write(_ level: String, _ message: String) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        let stamp =
            "\(time.tm_year + 1900)-\(two(time.tm_mon + 1))-\(two(time.tm_mday))T"
            + "\(two(time.tm_hour)):\(two(time.tm_min)):\(two(time.tm_sec))Z"
        let line = Array("\(stamp) \(level) \(oneLine(message))\n".utf8)
        line.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    /// `message` with every control character, line or paragraph separator
    /// and bidirectional override written as an escape (`\r`, `\u{1B}`), so
    /// text from the network (a hostname, a reason) can neither start a line
    /// of its own nor drive a terminal.
    static func oneLine(_ message: String) -> String {
        var text = ""
        text.reserveCapacity(message.utf8.count)
        for scalar in message.unicodeScalars {
            guard escapes(scalar) else {
                text.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            default: text += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
        }
        return text
    }

    private static func escapes(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: true
        case .format: (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
        default: false
        }
    }

    private static func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
