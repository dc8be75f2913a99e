import OrchionMapping
import OrchionProto
import SwiftProtobuf

/// The conversions of the schema generator's rule 4 (`x-orchion-unit`):
/// sizes (`4Gi`), thousandths (`500m`, `0.5`) and durations (`1h30m`),
/// exact in integers, into the value the proto field gets.
///
/// Threading: pure functions; safe anywhere.
enum UnitValue {
    /// The proto JSON literal for `instance` (already checked against the
    /// schema's type and pattern) in `unit`, or what is wrong with it.
    static func protoJSON(_ instance: YAMLInstance, unit: JobSchema.Unit) -> Result<String, UnitError> {
        switch unit {
        case .bytes: return bytes(instance).map { "\"\($0)\"" }
        case .millis: return millis(instance).map { "\"\($0)\"" }
        case .duration:
            return nanoseconds(instance).map { total in
                let nanos = String(total % 1_000_000_000)
                return "\"\(total / 1_000_000_000).\(String(repeating: "0", count: 9 - nanos.count))\(nanos)s\""
            }
        }
    }

    /// A size in bytes.
    static func bytes(_ instance: YAMLInstance) -> Result<UInt64, UnitError> {
        switch instance {
        case .integer(let value) where value >= 0: return .success(UInt64(value))
        case .string(let text):
            guard var scanner = DecimalScanner(text) else { return .failure(.tooLarge("at most 19 digits")) }
            guard let number = scanner.number() else { return .failure(.malformed) }
            let rest = scanner.rest
            let powers: [Character: Int] = ["k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6]
            var multiplier: UInt128 = 1
            var suffix = Substring(rest)
            if let letter = suffix.first, let power = powers[letter] {
                suffix = suffix.dropFirst()
                let base: UInt128 = suffix.first == "i" ? 1024 : 1000
                if suffix.first == "i" { suffix = suffix.dropFirst() }
                for _ in 0..<power { multiplier *= base }
            }
            if suffix == "B" { suffix = suffix.dropFirst() }
            guard suffix.isEmpty else { return .failure(.malformed) }
            guard let value = number.scaled(by: multiplier) else {
                return .failure(.inexact("a whole number of bytes"))
            }
            guard value <= UInt128(UInt64.max) else { return .failure(.tooLarge("at most 16 EiB")) }
            return .success(UInt64(value))
        default: return .failure(.malformed)
        }
    }

    /// A quantity in thousandths.
    static func millis(_ instance: YAMLInstance) -> Result<UInt64, UnitError> {
        switch instance {
        case .integer(let value) where value >= 0:
            let (product, overflow) = UInt64(value).multipliedReportingOverflow(by: 1000)
            return overflow ? .failure(.tooLarge("a smaller number")) : .success(product)
        case .number(let value) where value >= 0 && value.isFinite:
            let thousandths = (value * 1000).rounded()
            guard abs(value * 1000 - thousandths) < 1e-6 else { return .failure(.inexact("whole thousandths")) }
            guard thousandths < 18_446_744_073_709_551_615 else { return .failure(.tooLarge("a smaller number")) }
            return .success(UInt64(thousandths))
        case .string(let text):
            guard var scanner = DecimalScanner(text) else { return .failure(.tooLarge("at most 19 digits")) }
            guard let number = scanner.number() else { return .failure(.malformed) }
            let multiplier: UInt128
            switch scanner.rest {
            case "": multiplier = 1000
            case "m": multiplier = 1
            default: return .failure(.malformed)
            }
            guard let value = number.scaled(by: multiplier) else { return .failure(.inexact("whole thousandths")) }
            guard value <= UInt128(UInt64.max) else { return .failure(.tooLarge("a smaller number")) }
            return .success(UInt64(value))
        default: return .failure(.malformed)
        }
    }

    /// A duration in nanoseconds, within what a job may ask for
    /// (`Google_Protobuf_Duration.jobRangeSeconds`, as the server checks).
    static func nanoseconds(_ instance: YAMLInstance) -> Result<UInt128, UnitError> {
        let limit = UInt128(Google_Protobuf_Duration.jobRangeSeconds) * 1_000_000_000
        let total: UInt128
        switch instance {
        case .integer(let seconds) where seconds >= 0: total = UInt128(seconds) * 1_000_000_000
        case .string(let text):
            let units: [String: UInt128] = [
                "ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
                "h": 3_600_000_000_000, "d": 86_400_000_000_000,
            ]
            guard var scanner = DecimalScanner(text) else { return .failure(.tooLarge("at most 19 digits")) }
            var sum: UInt128 = 0
            repeat {
                guard let number = scanner.number(), let unit = units[scanner.letters()] else {
                    return .failure(.malformed)
                }
                // Below a nanosecond is dropped.
                sum += number.truncated(by: unit)
                guard sum <= limit else { break }
            } while !scanner.isAtEnd
            total = sum
        default: return .failure(.malformed)
        }
        guard total <= limit else {
            return .failure(.tooLarge("at most \(Google_Protobuf_Duration.jobRangeSeconds) s (about 10,000 years)"))
        }
        return .success(total)
    }
}

/// Why a unit value was refused (beyond the schema's pattern).
///
/// Threading: a value; safe anywhere.
enum UnitError: Error, Equatable {
    /// Not of the unit's form at all.
    case malformed
    /// A fraction finer than the unit allows; expected this.
    case inexact(String)
    /// Larger than the field holds; expected this.
    case tooLarge(String)
}

/// A decimal number `digits[.digits]` read from the front of some text, in
/// integers (at most 19 digits in all, so a number times any multiplier
/// here, up to 1024^6 or a day in nanoseconds, fits 128 bits).
///
/// Threading: a value; use on one thread.
struct DecimalScanner {
    /// A number read: `whole + fraction / 10^fractionDigits`.
    struct Number {
        var whole: UInt128
        var fraction: UInt128
        var fractionDigits: Int

        /// The number times `multiplier` when that is a whole number.
        func scaled(by multiplier: UInt128) -> UInt128? {
            let scale = power(fractionDigits)
            let part = fraction * multiplier
            guard part % scale == 0 else { return nil }
            return whole * multiplier + part / scale
        }

        /// The number times `multiplier`, its fraction truncated.
        func truncated(by multiplier: UInt128) -> UInt128 {
            whole * multiplier + fraction * multiplier / power(fractionDigits)
        }

        private func power(_ exponent: Int) -> UInt128 {
            var value: UInt128 = 1
            for _ in 0..<exponent { value *= 10 }
            return value
        }
    }

    private let characters: [Character]
    private var index = 0

    /// A scanner over `text`, or nil when it has over 19 digits.
    init?(_ text: String) {
        characters = Array(text)
        guard characters.count(where: \.isASCIIDigit) <= 19 else { return nil }
    }

    var isAtEnd: Bool { index == characters.count }

    /// What is left.
    var rest: String { String(characters[index...]) }

    /// Reads `digits[.digits]`, or nil.
    mutating func number() -> Number? {
        guard let whole = digits() else { return nil }
        var number = Number(whole: whole.value, fraction: 0, fractionDigits: 0)
        if index < characters.count, characters[index] == "." {
            index += 1
            guard let fraction = digits() else { return nil }
            number.fraction = fraction.value
            number.fractionDigits = fraction.count
        }
        return number
    }

    /// Reads letters up to the next digit or the end.
    mutating func letters() -> String {
        let start = index
        while index < characters.count, !characters[index].isASCIIDigit { index += 1 }
        return String(characters[start..<index])
    }

    private mutating func digits() -> (value: UInt128, count: Int)? {
        var value: UInt128 = 0
        let start = index
        while index < characters.count, let digit = characters[index].wholeNumberValue, characters[index].isASCIIDigit {
            value = value * 10 + UInt128(digit)
            index += 1
        }
        return index > start ? (value, index - start) : nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
