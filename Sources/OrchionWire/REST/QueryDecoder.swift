import OrchionCore
import SwiftProtobuf
import Synchronization

/// Turns query parameters into a request message, each by its field's type
/// in the message's schema: a string field keeps its digits as a string
/// (`?node_id=7`), an integer or enum field takes a number (or, for enums,
/// a value name), a bool field takes `true` or `false`. Unknown parameters,
/// repeated ones, empty numbers and bools, and malformed percent-encoding are
/// refused with INVALID_ARGUMENT naming the parameter.
///
/// The field's kind is read from SwiftProtobuf's own schema-driven JSON
/// decoder (which JSON literal the field accepts), once per message type and
/// parameter name. Threading: any thread.
enum QueryDecoder {
    /// What JSON literal a field takes.
    enum FieldKind: Sendable, Equatable {
        /// A string (or bytes) field: the value as a JSON string.
        case string
        /// A bool field: `true` or `false`.
        case bool
        /// A number or enum field: digits as a number, anything else as a string.
        case number
        /// A field of the message with no query form (a message, list or map).
        case unsupported
        /// No such field.
        case unknown
    }

    private static let kinds = Mutex<[String: FieldKind]>([:])

    /// The message for `items` (the query's parameters, decoded, in order).
    static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, items: [(name: String, value: String)])
        throws(RPCError) -> M
    {
        if items.isEmpty { return M() }
        var seen: Set<String> = []
        var fields: [String] = []
        for (name, value) in items {
            guard seen.insert(name).inserted else {
                throw RPCError(.invalidArgument, "query parameter '\(name)' given more than once: expected one value")
            }
            fields.append(
                jsonQuoted(name) + ":" + (try literal(for: value, name: name, kind: kind(of: name, in: M.self))))
        }
        do {
            return try M(jsonString: "{" + fields.joined(separator: ",") + "}")
        } catch {
            throw RPCError(.invalidArgument, "invalid query for \(M.protoMessageName): \(error)")
        }
    }

    /// The JSON literal for `value` in a field of `kind`.
    private static func literal(for value: String, name: String, kind: FieldKind) throws(RPCError) -> String {
        switch kind {
        case .string:
            return jsonQuoted(value)
        case .bool:
            guard value == "true" || value == "false" else {
                throw RPCError(.invalidArgument, "query parameter '\(name)': expected true or false, found '\(value)'")
            }
            return value
        case .number:
            guard !value.isEmpty else {
                throw RPCError(.invalidArgument, "query parameter '\(name)': expected a number or name, found nothing")
            }
            let digits = value.utf8.first == UInt8(ascii: "-") ? value.utf8.dropFirst() : value.utf8[...]
            let integer = !digits.isEmpty && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return integer ? value : jsonQuoted(value)
        case .unsupported:
            throw RPCError(.invalidArgument, "query parameter '\(name)' names a field that has no query form")
        case .unknown:
            throw RPCError(.invalidArgument, "unknown query parameter '\(name)'")
        }
    }

    /// The kind of field `name` in `M`, probed once and remembered.
    static func kind<M: SwiftProtobuf.Message>(of name: String, in type: M.Type) -> FieldKind {
        let key = M.protoMessageName + "\u{0}" + name
        if let known = kinds.withLock({ $0[key] }) { return known }
        let field = jsonQuoted(name)
        func accepts(_ literal: String) -> Bool { (try? M(jsonString: "{\(field):\(literal)}")) != nil }
        let kind: FieldKind =
            if accepts("true") {
                .bool
            } else if accepts("\"q\"") {
                .string
            } else if accepts("0") {
                .number
            } else if accepts("null") {
                .unsupported
            } else {
                .unknown
            }
        kinds.withLock { kinds in
            if kinds.count >= 1024 { kinds.removeAll() }
            kinds[key] = kind
        }
        return kind
    }
}
