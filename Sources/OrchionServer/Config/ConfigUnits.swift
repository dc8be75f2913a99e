import Glibc
import OrchionLoop

/// Parsing and writing the values of the config file: durations (`500ms`,
/// `2s`, `5m`, `1h30m`, `7d`), sizes (`64MiB`, `4GiB`, plain bytes), counts,
/// fractions, booleans and listen addresses. Each parser answers the value
/// or a message that says what was expected and what was found.
///
/// Threading: pure functions; safe anywhere.
public enum ConfigUnits {
    /// What a duration looks like, for messages.
    public static let durationForm = "a duration such as 500ms, 2s, 5m, 1h30m or 7d"
    /// What a size looks like, for messages.
    public static let sizeForm = "a size such as 65536, 64KiB, 64MiB or 4GiB"

    private static let durationUnits: [(String, Int64)] = [
        ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ]

    /// A duration: one or more `<number><unit>` parts, units `ms`, `s`,
    /// `m`, `h`, `d`; a part's number may have a fraction (`1.5s`). The
    /// whole must come to a whole number of nanoseconds and fit 64 bits.
    public static func duration(_ text: String) -> Result<Duration, ConfigValueError> {
        let found = ConfigValueError(expected: durationForm, found: text)
        var rest = Substring(text.trimmingSpaces)
        guard !rest.isEmpty else { return .failure(found) }
        var total: Int64 = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            guard !number.isEmpty, let scale = durationUnits.first(where: { $0.0 == unit })?.1,
                let nanos = scaled(number, by: scale)
            else { return .failure(found) }
            let (sum, overflow) = total.addingReportingOverflow(nanos)
            guard !overflow else { return .failure(found) }
            total = sum
        }
        return .success(.nanoseconds(total))
    }

    /// `number` (digits with an optional fraction) times `scale`, when exact and in range.
    private static func scaled(_ number: Substring, by scale: Int64) -> Int64? {
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, let integer = Int64(whole) else { return nil }
        var (value, overflow) = integer.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 18, let digits = Int64(fraction) else { return nil }
            var divisor: Int64 = 1
            for _ in 0..<fraction.count { divisor *= 10 }
            let (product, productOverflow) = digits.multipliedReportingOverflow(by: scale)
            guard !productOverflow, product % divisor == 0 else { return nil }
            (value, overflow) = value.addingReportingOverflow(product / divisor)
            guard !overflow else { return nil }
        }
        return value
    }

    /// A duration written in its largest exact unit (`7d`, `90s`, `500ms`),
    /// parts when needed (`1m30s`); what `duration(_:)` reads back.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        var nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanos.overflow else { return "\(seconds)s" }
        nanos = nanos.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !nanos.overflow else { return "\(seconds)s" }
        var rest = nanos.partialValue
        if rest == 0 { return "0s" }
        if rest < 0 || rest % 1_000_000 != 0 { return "\(seconds)s" }
        var text = ""
        for (unit, scale) in durationUnits.reversed() where rest >= scale {
            text += "\(rest / scale)\(unit)"
            rest %= scale
        }
        return text
    }

    private static let sizeUnits: [(String, Int)] = [
        ("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("kB", 1000),
        ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
    ]

    /// A size in bytes: digits (`_` allowed between them), optionally
    /// followed by `B`, `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024) or `kB`,
    /// `MB`, `GB`, `TB` (powers of 1000).
    public static func size(_ text: String) -> Result<Int, ConfigValueError> {
        let found = ConfigValueError(expected: sizeForm, found: text)
        let trimmed = Substring(text.trimmingSpaces)
        let digits = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == "_") }
        let unit = trimmed.dropFirst(digits.count).trimmingPrefix(" ")
        guard let number = wholeNumber(digits) else { return .failure(found) }
        let scale = unit.isEmpty ? 1 : sizeUnits.first { $0.0 == unit }?.1
        guard let scale else { return .failure(found) }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? .failure(found) : .success(bytes)
    }

    /// A size in its largest exact binary unit (`64MiB`, `4GiB`), else bytes.
    public static func format(bytes: Int) -> String {
        for (unit, scale) in sizeUnits[1...4].reversed() where bytes != 0 && bytes % scale == 0 {
            return "\(bytes / scale)\(unit)"
        }
        return String(bytes)
    }

    /// A non-negative whole number (`_` allowed between digits: `100_000`).
    public static func count(_ text: String) -> Result<Int, ConfigValueError> {
        guard let value = wholeNumber(Substring(text.trimmingSpaces)) else {
            return .failure(ConfigValueError(expected: "a whole number such as 3 or 100000", found: text))
        }
        return .success(value)
    }

    private static func wholeNumber(_ text: Substring) -> Int? {
        guard let first = text.first, let last = text.last, first.isNumber, last.isNumber,
            !text.contains("__")
        else { return nil }
        return Int(text.filter { $0 != "_" })
    }

    /// A finite decimal number such as `0.25` or `500`.
    public static func number(_ text: String) -> Result<Double, ConfigValueError> {
        let trimmed = text.trimmingSpaces
        guard trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-") }),
            let value = Double(trimmed), value.isFinite
        else { return .failure(ConfigValueError(expected: "a number such as 0.25 or 500", found: text)) }
        return .success(value)
    }

    /// `true` or `false` (any case).
    public static func boolean(_ text: String) -> Result<Bool, ConfigValueError> {
        switch text.trimmingSpaces.lowercased() {
        case "true": return .success(true)
        case "false": return .success(false)
        default: return .failure(ConfigValueError(expected: "true or false", found: text))
        }
    }

    /// A listen address: `HOST:PORT` with a numeric IPv4 host, `[HOST]:PORT`
    /// with a numeric IPv6 host, or `localhost:PORT` (127.0.0.1). No DNS.
    public static func address(_ text: String) -> Result<SocketAddress, ConfigValueError> {
        let found = ConfigValueError(
            expected: "an address such as 127.0.0.1:7420, [::1]:7420 or 0.0.0.0:7420", found: text)
        let trimmed = text.trimmingSpaces
        guard let colon = trimmed.lastIndex(of: ":") else { return .failure(found) }
        var host = String(trimmed[..<colon])
        let portText = trimmed[trimmed.index(after: colon)...]
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText)
        else { return .failure(found) }
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 {
            host = String(host.dropFirst().dropLast())
            guard host.contains(":"), parses(host, family: AF_INET6) else { return .failure(found) }
        } else if host == "localhost" {
            host = "127.0.0.1"
        } else {
            guard parses(host, family: AF_INET) else { return .failure(found) }
        }
        return .success(SocketAddress(host: host, port: port))
    }

    private static func parses(_ host: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, host, &buffer) == 1
    }

    /// Whether a numeric host is a loopback address: 127.0.0.0/8, `::1`, or
    /// an IPv4-mapped loopback (`::ffff:127.0.0.1`).
    public static func isLoopback(_ host: String) -> Bool {
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, host, &v4) == 1 { return v4[0] == 127 }
        var v6 = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        if v6[0..<15].allSatisfy({ $0 == 0 }) && v6[15] == 1 { return true }
        return v6[0..<10].allSatisfy { $0 == 0 } && v6[10] == 0xFF && v6[11] == 0xFF && v6[12] == 127
    }
}

/// A value of the wrong form: what was expected and what was found.
///
/// Threading: a value; safe anywhere.
public struct ConfigValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public let expected: String
    public let found: String

    public init(expected: String, found: String) {
        self.expected = expected
        self.found = found
    }

    public var description: String { "expected \(expected), found '\(found)'" }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}

extension ConfigUnits {
    /// A number without a needless fraction: `500`, `0.25`.
    public static func format(number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }
}
