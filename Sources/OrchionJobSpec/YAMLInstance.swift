import Yams

/// A YAML node (OrchionCore has a `Node` too: a cluster machine).
typealias YAMLNode = Yams.Node

/// A YAML node as the JSON data model sees it: what JSON Schema's `type`
/// is checked against. Plain scalars are typed by the rules of Yams's
/// default YAML 1.1 resolver (PyYAML's too), so `10` is an integer, `yes` a
/// boolean, `"10"` and `10m` strings.
///
/// Threading: a value; use on one thread.
enum YAMLInstance {
    case object(YAMLNode.Mapping)
    case array(YAMLNode.Sequence)
    case string(String)
    case integer(Int64)
    case number(Double)
    case boolean(Bool)
    case null
    /// An integer the resolver saw that does not fit 64 bits, as written.
    case hugeInteger(String)

    init(_ node: YAMLNode) {
        switch node {
        case .mapping(let mapping): self = .object(mapping)
        case .sequence(let sequence): self = .array(sequence)
        case .alias: self = .null  // Yams's composer resolves aliases; kept total.
        case .scalar(let scalar):
            switch Self.tag(of: scalar, node).rawValue {
            case Tag.Name.int.rawValue:
                if let value = node.int { self = .integer(Int64(value)) } else { self = .hugeInteger(scalar.string) }
            case Tag.Name.float.rawValue: self = node.float.map { .number($0) } ?? .string(scalar.string)
            case Tag.Name.bool.rawValue: self = node.bool.map { .boolean($0) } ?? .string(scalar.string)
            case Tag.Name.null.rawValue: self = .null
            default: self = .string(scalar.string)
            }
        }
    }

    /// The default rules' words (bool and null are word lists).
    private static let words: [String: Tag.Name] = [
        "yes": .bool, "Yes": .bool, "YES": .bool, "no": .bool, "No": .bool, "NO": .bool, "true": .bool,
        "True": .bool, "TRUE": .bool, "false": .bool, "False": .bool, "FALSE": .bool, "on": .bool, "On": .bool,
        "ON": .bool, "off": .bool, "Off": .bool, "OFF": .bool, "null": .null, "Null": .null, "NULL": .null,
        "~": .null,
    ]
    /// What the other default rules (int, float, timestamp, merge, value)
    /// start with, and every character they can match.
    private static let ruleInitials = Set("+-0123456789.<=".unicodeScalars)
    private static let ruleCharacters = Set("0123456789_:.+-<=xobXOBabcdefABCDEFinfINFaNtTzZ \t".unicodeScalars)

    /// The scalar's tag: an explicit one as given, a quoted or block scalar
    /// a string, a plain one by Yams's default (YAML 1.1) rules. Files are
    /// composed with `Resolver.basic`, which resolves nothing (Yams hashes
    /// every mapping key to find duplicates, and with the default resolver
    /// that runs all its regular expressions on each key); the rules run
    /// here, only on values that can match one.
    private static func tag(of scalar: YAMLNode.Scalar, _ node: YAMLNode) -> Tag.Name {
        let given = scalar.tag.description
        if !given.isEmpty { return given == Tag.Name.nonSpecific.rawValue ? .str : Tag.Name(rawValue: given) }
        guard scalar.style == .plain else { return .str }
        let text = scalar.string
        guard let initial = text.unicodeScalars.first else { return .null }
        if let word = words[text] { return word }
        guard ruleInitials.contains(initial), text.unicodeScalars.allSatisfy(ruleCharacters.contains) else {
            return .str
        }
        return Resolver.default.resolveTag(of: node)
    }

    /// The JSON type, `integer` for integers.
    var type: JobSchema.JSONType {
        switch self {
        case .object: .object
        case .array: .array
        case .string: .string
        case .integer, .hugeInteger: .integer
        case .number: .number
        case .boolean: .boolean
        case .null: .null
        }
    }

    /// What was found, in words: "a list", "the integer `123`".
    var found: String {
        switch self {
        case .object: "a mapping"
        case .array: "a list"
        case .string(let text): "the string `\(text.quotedForMessage)`"
        case .integer(let value): "the integer `\(value)`"
        case .hugeInteger(let text): "the integer `\(text.quotedForMessage)`"
        case .number(let value): "the number `\(value)`"
        case .boolean(let value): "the boolean `\(value)`"
        case .null: "nothing"
        }
    }
}

extension JobSchema.JSONType {
    /// The type in words, for "expected ...".
    var words: String {
        switch self {
        case .object: "a mapping"
        case .array: "a list"
        case .string: "a string"
        case .integer: "an integer"
        case .number: "a number"
        case .boolean: "a boolean"
        case .null: "nothing"
        }
    }
}

extension String {
    /// This text cut to 60 characters with line breaks shown as `\n`, for
    /// quoting a user's value in a message.
    var quotedForMessage: String {
        let flat = split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
        return flat.count > 60 ? String(flat.prefix(57)) + "..." : flat
    }
}
