import OrchionCore
import Yams

/// Checks YAML nodes against the job spec schema, collecting a problem,
/// with its line and column, for everything that does not conform; the
/// keywords mean what JSON Schema says they mean. A value with a unit
/// (`x-orchion-unit`) is also converted, so a size too large for its field
/// is found here too.
///
/// Threading: one validation at a time; use on one thread.
struct SchemaValidator {
    /// The most nodes one file may expand to (YAML aliases can repeat a
    /// subtree without repeating its text).
    static let nodeLimit = 2_000_000

    /// The file named in problems.
    let file: String
    /// What was found so far.
    private(set) var problems: [JobSpecProblem] = []
    private var regexes: [String: Regex<AnyRegexOutput>] = [:]
    private var visited = 0

    init(file: String) {
        self.file = file
    }

    /// Checks `node` (at `field`, a path like `resources.cpu`) against `schema`.
    mutating func validate(_ node: YAMLNode, against schema: JobSchema, field: FieldPath) {
        visited += 1
        guard visited <= Self.nodeLimit else {
            if visited == Self.nodeLimit + 1 {
                report(
                    node, field, "too many values",
                    "expected at most \(Self.nodeLimit) values in one file (aliases included)")
            }
            return
        }
        let instance = YAMLInstance(node)
        if let types = schema.types, !types.contains(where: { Self.matches(instance.type, $0) }) {
            let expected = Self.list(types.map(\.words), joinedBy: "or")
            var quote = ""
            if types == [.string], case .scalar(let scalar) = node, scalar.style == .plain {
                quote = " (quote it for a string: \"\(scalar.string.quotedForMessage)\")"
            }
            return report(
                node, field, "invalid \(field.quoted)", "expected \(expected), found \(instance.found)\(quote)")
        }
        if case .hugeInteger = instance {
            return report(node, field, "invalid \(field.quoted)", "\(instance.found) does not fit 64 bits")
        }
        if let constant = schema.constant, !Self.equals(instance, constant) {
            return report(node, field, "invalid \(field.quoted)", "expected `\(constant)`, found \(instance.found)")
        }
        if let allowed = schema.enumeration, !allowed.contains(where: { Self.equals(instance, $0) }) {
            let list = allowed.map { "`\($0)`" }.joined(separator: ", ")
            let suggestion = Self.suggestion(for: instance, among: allowed)
            return report(
                node, field, "invalid \(field.quoted)", "expected one of \(list), found \(instance.found)\(suggestion)")
        }
        let before = problems.count
        switch instance {
        case .string(let text): checkString(text, node, schema, field)
        case .integer, .number: checkNumber(instance, node, schema, field)
        case .object(let mapping): checkObject(mapping, node, schema, field)
        case .array(let sequence): checkArray(sequence, node, schema, field)
        case .boolean, .null, .hugeInteger: break
        }
        guard problems.count == before, let unit = schema.unit else { return }
        if case .failure(let error) = UnitValue.protoJSON(instance, unit: unit) {
            let expected: String
            switch error {
            case .malformed: expected = "expected \(schema.expected ?? unit.rawValue)"
            case .inexact(let words), .tooLarge(let words): expected = "expected \(words)"
            }
            report(node, field, "invalid \(field.quoted)", "\(expected), found \(instance.found)")
        }
    }

    private mutating func checkString(_ text: String, _ node: YAMLNode, _ schema: JobSchema, _ field: FieldPath) {
        let length = text.unicodeScalars.count
        if let minimum = schema.minLength, length < minimum {
            let expected = minimum == 1 ? "a non-empty string" : "at least \(minimum) characters"
            report(node, field, "invalid \(field.quoted)", "expected \(expected), found \(instance(text))")
        }
        if let maximum = schema.maxLength, length > maximum {
            report(node, field, "invalid \(field.quoted)", "expected at most \(maximum) characters, found \(length)")
        }
        if let pattern = schema.pattern, !matches(text, pattern) {
            let expected = schema.expected ?? "a value matching `\(pattern)`"
            report(node, field, "invalid \(field.quoted)", "expected \(expected), found \(instance(text))")
        }
    }

    private func instance(_ text: String) -> String {
        text.isEmpty ? "an empty string" : YAMLInstance.string(text).found
    }

    private mutating func checkNumber(
        _ instance: YAMLInstance, _ node: YAMLNode, _ schema: JobSchema, _ field: FieldPath
    ) {
        if let minimum = schema.minimum, Self.compare(instance, minimum) == .less {
            report(node, field, "invalid \(field.quoted)", "expected at least \(minimum.text), found \(instance.found)")
        }
        if let maximum = schema.maximum, Self.compare(instance, maximum) == .greater {
            report(node, field, "invalid \(field.quoted)", "expected at most \(maximum.text), found \(instance.found)")
        }
    }

    private mutating func checkObject(
        _ mapping: YAMLNode.Mapping, _ node: YAMLNode, _ schema: JobSchema, _ field: FieldPath
    ) {
        let present = Set(mapping.keys.compactMap(\.string))
        for name in schema.required where !present.contains(name) {
            report(node, field.appending(name), "missing field `\(name)`", field.isEmpty ? "" : "in \(field.quoted)")
        }
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report(
                    key, field, "invalid key in \(field.quoted)", "expected a name, found \(YAMLInstance(key).found)")
                continue
            }
            let name = scalar.string
            let child = field.appending(name)
            if let names = schema.propertyNames {
                var keyCheck = SchemaValidator(file: file)
                keyCheck.regexes = regexes
                keyCheck.validate(key, against: names, field: child)
                regexes = keyCheck.regexes
                for problem in keyCheck.problems {
                    var renamed = problem
                    renamed.message = "invalid key \(child.quoted)"
                    problems.append(renamed)
                }
            }
            if let property = schema.property(name) {
                validate(value, against: property, field: child)
                continue
            }
            switch schema.additional {
            case .any: continue
            case .schema(let values): validate(value, against: values, field: child)
            case .forbidden:
                let known = schema.properties.map(\.name)
                // A field one level too high finds its place: `memory` -> `resources.memory`.
                let nested = schema.properties.flatMap { property in
                    property.schema.properties.map { "\(property.name).\($0.name)" }
                }
                let hint =
                    KeySuggestion.closest(to: name, among: known + nested).map { "did you mean `\($0)`?" }
                    ?? "expected one of " + known.map { "`\($0)`" }.joined(separator: ", ")
                report(key, child, "unknown field `\(name.quotedForMessage)`", hint)
            }
        }
        if !schema.oneOf.isEmpty { checkOneOf(mapping, node, schema.oneOf, field) }
    }

    /// `oneOf`: exactly one branch must hold. Said in words when every
    /// branch only requires fields ("exactly one of `command` and `argv`").
    private mutating func checkOneOf(
        _ mapping: YAMLNode.Mapping, _ node: YAMLNode, _ branches: [JobSchema], _ field: FieldPath
    ) {
        var holding: [Int] = []
        for (index, branch) in branches.enumerated() {
            var check = SchemaValidator(file: file)
            check.regexes = regexes
            check.validate(node, against: branch, field: field)
            if check.problems.isEmpty { holding.append(index) }
        }
        guard holding.count != 1 else { return }
        let named = branches.map { $0.required.count == 1 && $0.properties.isEmpty ? $0.required[0] : nil }
        guard named.allSatisfy({ $0 != nil }) else {
            return report(
                node, field, "invalid \(field.isEmpty ? "document" : field.quoted)",
                "expected exactly one of \(branches.count) alternatives to hold, found \(holding.count)")
        }
        let names = named.compactMap { $0 }
        let quoted = names.map { "`\($0)`" }
        let list = Self.list(quoted, joinedBy: "and")
        if holding.isEmpty {
            report(node, field, "missing field \(Self.list(quoted, joinedBy: "or"))", "expected exactly one of \(list)")
        } else {
            let given = holding.map { names[$0] }
            let second = mapping.first { $0.key.string == given[1] }?.key ?? node
            report(
                second, field.appending(given[1]), "`\(given[1])` given with `\(given[0])`",
                "expected exactly one of \(list)")
        }
    }

    private mutating func checkArray(
        _ sequence: YAMLNode.Sequence, _ node: YAMLNode, _ schema: JobSchema, _ field: FieldPath
    ) {
        if let minimum = schema.minItems, sequence.count < minimum {
            let expected = minimum == 1 ? "a non-empty list" : "at least \(minimum) items"
            report(node, field, "invalid \(field.quoted)", "expected \(expected), found \(sequence.count) items")
        }
        if let maximum = schema.maxItems, sequence.count > maximum {
            report(node, field, "invalid \(field.quoted)", "expected at most \(maximum) items, found \(sequence.count)")
        }
        for (index, item) in sequence.enumerated() {
            let itemSchema = index < schema.prefixItems.count ? schema.prefixItems[index] : schema.items
            if let itemSchema { validate(item, against: itemSchema, field: field.appending(index: index)) }
        }
    }

    private mutating func report(_ node: YAMLNode, _ field: FieldPath, _ message: String, _ hint: String) {
        let mark = node.mark
        problems.append(
            JobSpecProblem(
                file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, field: field.text, message: message,
                hint: hint))
    }

    private mutating func matches(_ text: String, _ pattern: String) -> Bool {
        if regexes[pattern] == nil { regexes[pattern] = try? Regex(pattern) }
        // The pattern compiled when the schema loaded; JSON Schema patterns are unanchored.
        guard let regex = regexes[pattern] else { return false }
        return (try? regex.firstMatch(in: text)) != nil
    }

    /// "a, b or c".
    private static func list(_ words: [String], joinedBy conjunction: String) -> String {
        guard let last = words.last else { return "" }
        return words.count == 1 ? last : words.dropLast().joined(separator: ", ") + " \(conjunction) " + last
    }

    private static func matches(_ found: JobSchema.JSONType, _ wanted: JobSchema.JSONType) -> Bool {
        found == wanted || (found == .integer && wanted == .number)
    }

    private static func equals(_ instance: YAMLInstance, _ text: String) -> Bool {
        if case .string(let found) = instance { return found == text }
        return false
    }

    private static func suggestion(for instance: YAMLInstance, among allowed: [String]) -> String {
        guard case .string(let text) = instance, let closest = KeySuggestion.closest(to: text, among: allowed) else {
            return ""
        }
        return "; did you mean `\(closest)`?"
    }

    private enum Order { case less, equal, greater }

    private static func compare(_ instance: YAMLInstance, _ bound: JobSchema.Bound) -> Order {
        switch instance {
        case .integer(let value):
            if let exact = bound.integer { return value < exact ? .less : value > exact ? .greater : .equal }
            let double = Double(value)
            return double < bound.double ? .less : double > bound.double ? .greater : .equal
        case .number(let value):
            return value < bound.double ? .less : value > bound.double ? .greater : .equal
        default: return .equal
        }
    }
}

extension JobSchema.Bound {
    /// The bound as written in a message.
    var text: String { integer.map { "\($0)" } ?? "\(double)" }
}

/// Where a value is in a document: `resources.memory`, `argv[0]`, `env.PATH`.
///
/// Threading: a value; safe anywhere.
struct FieldPath: Sendable, Hashable {
    /// The path as written in messages; empty for the document.
    private(set) var text = ""

    var isEmpty: Bool { text.isEmpty }

    /// The path in backquotes, or "the document".
    var quoted: String { text.isEmpty ? "document" : "`\(text)`" }

    /// The path of property `name` under this one.
    func appending(_ name: String) -> FieldPath {
        FieldPath(text: text.isEmpty ? name : "\(text).\(name)")
    }

    /// The path of item `index` under this one.
    func appending(index: Int) -> FieldPath {
        FieldPath(text: "\(text)[\(index)]")
    }
}
