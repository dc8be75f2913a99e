import OrchionCore
import OrchionProto
import SwiftProtobuf
import Yams

/// Writes a document that passed the schema as the proto JSON of an
/// `orchion.v1.SubmitJobRequest`, putting each value where its property's
/// `x-orchion-proto` says and converting units, then decodes that JSON with
/// SwiftProtobuf: the schema, not this code, says where each field goes.
///
/// Threading: a value; use on one thread.
struct ProtoJSONWriter {
    /// A proto JSON value under construction.
    private indirect enum Value {
        /// A JSON literal, already encoded.
        case literal(String)
        case object([(key: String, value: Value)])
        case array([Value])

        var text: String {
            switch self {
            case .literal(let literal): literal
            case .object(let pairs):
                "{" + pairs.map { jsonQuoted($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
            case .array(let items): "[" + items.map(\.text).joined(separator: ",") + "]"
            }
        }
    }

    private var root: [(key: String, value: Value)] = []

    /// The request `document` (checked against `schema`) describes.
    static func request(
        _ document: YAMLNode, schema: JobSchema
    ) -> Result<Orchion_V1_SubmitJobRequest, JSONWriteFailure> {
        var writer = ProtoJSONWriter()
        do {
            try writer.add(document, schema: schema)
        } catch {
            return .failure(error)
        }
        let json = Value.object(writer.root).text
        do {
            return .success(try Orchion_V1_SubmitJobRequest(jsonString: json))
        } catch {
            return .failure(JSONWriteFailure(description: "the request did not decode: \(error)"))
        }
    }

    /// Adds the properties of mapping `node` that `schema` maps.
    private mutating func add(_ node: YAMLNode, schema: JobSchema) throws(JSONWriteFailure) {
        guard let mapping = node.mapping else { return }
        for (key, child) in mapping {
            guard let name = key.string, let property = schema.property(name) else { continue }
            if let path = property.protoPath {
                insert(try value(child, property), at: path.split(separator: ".").map(String.init))
            } else if property.types == [.object] {
                try add(child, schema: property)
            }
        }
    }

    private func value(_ node: YAMLNode, _ schema: JobSchema) throws(JSONWriteFailure) -> Value {
        let instance = YAMLInstance(node)
        if let unit = schema.unit {
            switch UnitValue.protoJSON(instance, unit: unit) {
            case .success(let literal): return .literal(literal)
            case .failure(let error):
                throw JSONWriteFailure(description: "unit value refused after validation: \(error)")
            }
        }
        switch instance {
        case .string(let text): return .literal(jsonQuoted(text))
        case .integer(let value): return .literal("\"\(value)\"")
        case .number(let value): return .literal("\(value)")
        case .boolean(let value): return .literal(value ? "true" : "false")
        case .object(let mapping):
            // A map<string, string>: scalar values as written.
            return .object(
                mapping.map { (key: $0.key.string ?? "", value: .literal(jsonQuoted($0.value.string ?? ""))) })
        case .array(let sequence):
            var items: [Value] = []
            for (index, item) in sequence.enumerated() {
                let itemSchema = index < schema.prefixItems.count ? schema.prefixItems[index] : schema.items
                guard let itemSchema else { throw JSONWriteFailure(description: "no schema for item \(index)") }
                items.append(try value(item, itemSchema))
            }
            return .array(items)
        case .null, .hugeInteger: throw JSONWriteFailure(description: "\(instance.found) passed validation")
        }
    }

    /// Sets `value` at `path`, creating the objects on the way.
    private mutating func insert(_ value: Value, at path: [String]) {
        Self.insert(value, at: path[...], into: &root)
    }

    private static func insert(
        _ value: Value, at path: ArraySlice<String>, into pairs: inout [(key: String, value: Value)]
    ) {
        guard let key = path.first else { return }
        let rest = path.dropFirst()
        let index = pairs.firstIndex { $0.key == key }
        if rest.isEmpty {
            if let index { pairs[index].value = value } else { pairs.append((key, value)) }
            return
        }
        var children: [(key: String, value: Value)] = []
        if let index, case .object(let existing) = pairs[index].value { children = existing }
        insert(value, at: rest, into: &children)
        if let index { pairs[index].value = .object(children) } else { pairs.append((key, .object(children))) }
    }
}

/// A validated document could not be written as a request: a defect of the
/// schema or this module, reported as a problem rather than a crash.
///
/// Threading: a value; safe anywhere.
struct JSONWriteFailure: Error, CustomStringConvertible {
    let description: String
}
