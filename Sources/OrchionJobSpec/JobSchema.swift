import Yams

/// One node of the job spec JSON Schema (draft 2020-12), in the subset the
/// generated schema uses: `type`, `properties`, `required`,
/// `additionalProperties`, `propertyNames`, `items`, `prefixItems`, `oneOf`,
/// `const`, `enum` (of strings), `pattern`, `minimum`/`maximum`,
/// `minLength`/`maxLength`, `minItems`/`maxItems`, and Orchion's annotations
/// `x-orchion-proto` (where the value goes in the request's proto JSON),
/// `x-orchion-unit` and `x-orchion-expected`. A keyword outside that subset
/// makes loading fail, so the generator cannot add a rule that this
/// validator would silently skip.
///
/// Threading: immutable; safe anywhere.
final class JobSchema: Sendable {
    /// A JSON type name.
    enum JSONType: String, Sendable {
        case object, array, string, integer, number, boolean, null
    }

    /// How a string is converted before it reaches the proto (generator rule 4).
    enum Unit: String, Sendable {
        /// A size in bytes: `4Gi`, `512M`, `1024`.
        case bytes
        /// A quantity in thousandths: `2`, `0.5`, `500m`.
        case millis
        /// A duration: `90s`, `1h30m`, or seconds.
        case duration
    }

    /// What an object allows beside its `properties`.
    enum Additional: Sendable {
        case any
        case forbidden
        case schema(JobSchema)
    }

    /// A bound of `minimum`/`maximum`, exact for integers.
    struct Bound: Sendable {
        var integer: Int64?
        var double: Double
    }

    let types: [JSONType]?
    let properties: [(name: String, schema: JobSchema)]
    let required: [String]
    let additional: Additional
    let propertyNames: JobSchema?
    let items: JobSchema?
    let prefixItems: [JobSchema]
    let oneOf: [JobSchema]
    let constant: String?
    let enumeration: [String]?
    let pattern: String?
    let minimum: Bound?
    let maximum: Bound?
    let minLength: Int?
    let maxLength: Int?
    let minItems: Int?
    let maxItems: Int?
    /// `x-orchion-proto`: the dotted proto JSON path this value is written to.
    let protoPath: String?
    /// `x-orchion-unit`.
    let unit: Unit?
    /// `x-orchion-expected`: what a value failing `pattern` should look like, in words.
    let expected: String?

    /// The schema of property `name`, if declared.
    func property(_ name: String) -> JobSchema? {
        properties.first { $0.name == name }?.schema
    }

    /// The generated schema (`JobSchema.json`), parsed once.
    static let generated: Result<JobSchema, SchemaLoadError> = {
        do {
            guard let root = try Yams.compose(yaml: json) else { return .failure(SchemaLoadError("empty schema")) }
            return .success(try JobSchema(root, at: "#"))
        } catch let error as SchemaLoadError {
            return .failure(error)
        } catch {
            return .failure(SchemaLoadError("schema is not valid JSON: \(error)"))
        }
    }()

    private static let annotations: Set<String> = ["$schema", "$id", "title", "description", "default", "examples"]

    private init(_ node: YAMLNode, at pointer: String) throws(SchemaLoadError) {
        guard let mapping = node.mapping else { throw SchemaLoadError("\(pointer): expected an object") }
        var types: [JSONType]?
        var properties: [(String, JobSchema)] = []
        var required: [String] = []
        var additional = Additional.any
        var propertyNames: JobSchema?
        var items: JobSchema?
        var prefixItems: [JobSchema] = []
        var oneOf: [JobSchema] = []
        var constant: String?
        var enumeration: [String]?
        var pattern: String?
        var minimum: Bound?
        var maximum: Bound?
        var lengths: [String: Int] = [:]
        var protoPath: String?
        var unit: Unit?
        var expected: String?
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            let here = "\(pointer)/\(key)"
            switch key {
            case "type":
                let names = value.sequence.map { $0.map { $0.string ?? "" } } ?? [value.string ?? ""]
                types = try names.map { name throws(SchemaLoadError) in
                    guard let type = JSONType(rawValue: name) else { throw SchemaLoadError("\(here): type \(name)") }
                    return type
                }
            case "properties":
                guard let fields = value.mapping else { throw SchemaLoadError("\(here): expected an object") }
                for (name, schema) in fields {
                    let name = name.string ?? ""
                    properties.append((name, try JobSchema(schema, at: "\(here)/\(name)")))
                }
            case "required": required = try Self.strings(value, at: here)
            case "additionalProperties":
                switch value.bool {
                case true?: additional = .any
                case false?: additional = .forbidden
                case nil: additional = .schema(try JobSchema(value, at: here))
                }
            case "propertyNames": propertyNames = try JobSchema(value, at: here)
            case "items": items = try JobSchema(value, at: here)
            case "prefixItems", "oneOf":
                guard let list = value.sequence else { throw SchemaLoadError("\(here): expected an array") }
                var schemas: [JobSchema] = []
                for (index, item) in list.enumerated() { schemas.append(try JobSchema(item, at: "\(here)/\(index)")) }
                if key == "oneOf" { oneOf = schemas } else { prefixItems = schemas }
            case "const": constant = try Self.string(value, at: here)
            case "enum": enumeration = try Self.strings(value, at: here)
            case "pattern": pattern = try Self.string(value, at: here)
            case "minimum": minimum = try Self.bound(value, at: here)
            case "maximum": maximum = try Self.bound(value, at: here)
            case "minLength", "maxLength", "minItems", "maxItems":
                guard let number = value.int, number >= 0 else {
                    throw SchemaLoadError("\(here): expected a non-negative integer")
                }
                lengths[key] = number
            case "x-orchion-proto": protoPath = try Self.string(value, at: here)
            case "x-orchion-unit":
                guard let named = Unit(rawValue: try Self.string(value, at: here)) else {
                    throw SchemaLoadError("\(here): unknown unit")
                }
                unit = named
            case "x-orchion-expected": expected = try Self.string(value, at: here)
            case _ where Self.annotations.contains(key): break
            default: throw SchemaLoadError("\(here): keyword not supported by the job spec validator")
            }
        }
        self.types = types
        self.properties = properties
        self.required = required
        self.additional = additional
        self.propertyNames = propertyNames
        self.items = items
        self.prefixItems = prefixItems
        self.oneOf = oneOf
        self.constant = constant
        self.enumeration = enumeration
        self.pattern = pattern
        self.minimum = minimum
        self.maximum = maximum
        self.minLength = lengths["minLength"]
        self.maxLength = lengths["maxLength"]
        self.minItems = lengths["minItems"]
        self.maxItems = lengths["maxItems"]
        self.protoPath = protoPath
        self.unit = unit
        self.expected = expected
        if let pattern {
            do {
                _ = try Regex(pattern)
            } catch {
                throw SchemaLoadError("\(pointer)/pattern: not a regular expression: \(error)")
            }
        }
    }

    private static func string(_ node: YAMLNode, at pointer: String) throws(SchemaLoadError) -> String {
        guard let scalar = node.scalar else { throw SchemaLoadError("\(pointer): expected a string") }
        return scalar.string
    }

    private static func strings(_ node: YAMLNode, at pointer: String) throws(SchemaLoadError) -> [String] {
        guard let list = node.sequence else { throw SchemaLoadError("\(pointer): expected an array") }
        var strings: [String] = []
        for item in list { strings.append(try string(item, at: pointer)) }
        return strings
    }

    private static func bound(_ node: YAMLNode, at pointer: String) throws(SchemaLoadError) -> Bound {
        if let integer = node.int { return Bound(integer: Int64(integer), double: Double(integer)) }
        if let double = node.float { return Bound(integer: nil, double: double) }
        throw SchemaLoadError("\(pointer): expected a number")
    }
}

/// The built-in schema could not be read: a generator or build defect, not
/// the user's.
///
/// Threading: a value; safe anywhere.
struct SchemaLoadError: Error, Sendable, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = "the built-in job spec schema is broken: \(description)"
    }
}
