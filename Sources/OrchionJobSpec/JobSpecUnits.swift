import OrchionProto
import SwiftProtobuf

/// The job spec units for command-line flags (`orchion job submit --mem 4Gi
/// --cpu 500m --timeout 10m -- CMD`): the same conversions, limits and
/// words as in YAML specs (docs/job-spec.md, "Units").
///
/// Threading: pure functions; safe anywhere.
public enum JobSpecUnits {
    /// Bytes of a size: `4Gi`, `512Mi`, `1.5G`, `1048576`.
    public static func bytes(_ text: String) throws(JobSpecUnitError) -> UInt64 {
        try convert(
            text, UnitValue.bytes(.string(text)), expected: "a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes"
        )
    }

    /// Thousandths of a core: `2`, `0.5`, `500m`.
    public static func cpuMillis(_ text: String) throws(JobSpecUnitError) -> UInt64 {
        try convert(
            text, UnitValue.millis(.string(text)),
            expected: "a number such as `2` or `0.5`, or thousandths such as `500m`")
    }

    /// A duration: `90s`, `10m`, `1h30m`, `1.5h`, or whole seconds (`90`).
    public static func duration(_ text: String) throws(JobSpecUnitError) -> Google_Protobuf_Duration {
        let instance: YAMLInstance =
            !text.isEmpty && text.allSatisfy({ $0.isASCII && $0.isNumber }) && text.count <= 18
            ? .integer(Int64(text) ?? -1) : .string(text)
        let nanoseconds = try convert(
            text, UnitValue.nanoseconds(instance),
            expected: "a duration such as `90s`, `10m`, `1h30m` or a number of seconds")
        return Google_Protobuf_Duration(
            seconds: Int64(nanoseconds / 1_000_000_000), nanos: Int32(nanoseconds % 1_000_000_000))
    }

    private static func convert<Value>(
        _ text: String, _ result: Result<Value, UnitError>, expected: String
    ) throws(JobSpecUnitError) -> Value {
        switch result {
        case .success(let value): return value
        case .failure(.malformed):
            throw JobSpecUnitError(description: "expected \(expected), found `\(text.quotedForMessage)`")
        case .failure(.inexact(let words)), .failure(.tooLarge(let words)):
            throw JobSpecUnitError(description: "expected \(words), found `\(text.quotedForMessage)`")
        }
    }
}

/// A unit value was refused: what was expected and what was found, e.g.
/// "expected a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes, found `4Gx`".
///
/// Threading: a value; safe anywhere.
public struct JobSpecUnitError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String

    /// An error saying `description`.
    public init(description: String) {
        self.description = description
    }
}
