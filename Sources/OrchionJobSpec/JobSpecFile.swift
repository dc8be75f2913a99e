import OrchionCore
import OrchionMapping
import OrchionProto
import SwiftProtobuf
import Yams

/// YAML job spec files (`apiVersion: orchion/v1`, `kind: Job`, one job per
/// `---` document) read into the requests `orchion job submit` sends.
///
/// Each document is checked against the JSON Schema generated from the
/// proto descriptors (`sdk/schema/job.schema.json`, built into the binary),
/// then against what the server refuses on submit (OrchionCore's
/// `JobSpec.validate`, the request id and size limits), so a bad spec is
/// refused before anything is sent, with every problem's file, line and
/// column. `docs/job-spec.md` describes the format.
///
/// An array job (`count: N`) becomes N requests, copy `i` (from 0) with
/// `ORCHION_ARRAY_INDEX=i` and `ORCHION_ARRAY_COUNT=N` in its environment,
/// `[i]` after its name and after its request id.
///
/// Threading: pure functions of their input; `load` reads files (blocking),
/// so call it off any event loop thread.
public enum JobSpecFile {
    /// The variable holding an array copy's index, 0 to count - 1.
    public static let arrayIndexVariable = "ORCHION_ARRAY_INDEX"
    /// The variable holding an array job's count.
    public static let arrayCountVariable = "ORCHION_ARRAY_COUNT"
    /// The largest file `load` reads, in bytes.
    public static let fileByteLimit = 64 << 20
    /// The largest job spec the server takes, serialized (the server's
    /// `InputBounds.specBytes`; a test keeps the two equal).
    public static let specByteLimit = 1 << 20
    /// The longest request id the server takes, in UTF-8 bytes.
    public static let requestIDByteLimit = 256
    /// The JSON Schema specs are checked against, as committed in
    /// `sdk/schema/job.schema.json` (for editors and other validators).
    public static var schemaJSON: String { JobSchema.json }

    /// The requests of the job spec file at `path`, in file order (an
    /// array job's copies in index order). Throws every problem found.
    public static func load(path: String) throws(JobSpecFileError) -> [Orchion_V1_SubmitJobRequest] {
        try loadDocuments(paths: [path]).flatMap(\.requests)
    }

    /// The requests of all files at `paths`, in order; throws every problem
    /// in every file.
    public static func load(paths: [String]) throws(JobSpecFileError) -> [Orchion_V1_SubmitJobRequest] {
        try loadDocuments(paths: paths).flatMap(\.requests)
    }

    /// The documents of all files at `paths`, in order, each with its
    /// position and requests; throws every problem in every file.
    public static func loadDocuments(paths: [String]) throws(JobSpecFileError) -> [JobSpecDocument] {
        var documents: [JobSpecDocument] = []
        var problems: [JobSpecProblem] = []
        for path in paths {
            switch SpecFileReader.text(of: path, limit: fileByteLimit) {
            case .failure(let reason):
                problems.append(JobSpecProblem(file: path, line: 1, column: 1, field: "", message: reason.description))
            case .success(let text):
                do throws(JobSpecFileError) {
                    documents += try parseDocuments(text, file: path)
                } catch {
                    problems += error.problems
                }
            }
        }
        guard problems.isEmpty else { throw JobSpecFileError(problems) }
        return documents
    }

    /// The requests of YAML `text`, naming it `file` in problems.
    public static func parse(_ text: String, file: String) throws(JobSpecFileError) -> [Orchion_V1_SubmitJobRequest] {
        try parseDocuments(text, file: file).flatMap(\.requests)
    }

    /// The documents of YAML `text`, in order, each with its position and
    /// requests; throws every problem, in file order.
    public static func parseDocuments(_ text: String, file: String) throws(JobSpecFileError) -> [JobSpecDocument] {
        let schema: JobSchema
        switch JobSchema.generated {
        case .success(let loaded): schema = loaded
        case .failure(let error):
            throw JobSpecFileError([
                JobSpecProblem(file: file, line: 1, column: 1, field: "", message: error.description)
            ])
        }
        var validator = SchemaValidator(file: file)
        var documents: [JobSpecDocument] = []
        var problems: [JobSpecProblem] = []
        do {
            // A byte order mark (from some Windows editors) is not content; libyaml,
            // told the encoding, would read it as part of the first key.
            // Scalars are typed by YAMLInstance (which says why the basic resolver).
            let parser = try Parser(
                yaml: text.first == "\u{FEFF}" ? String(text.dropFirst()) : text, resolver: .basic)
            while let document = try parser.nextRoot() {
                if case .scalar(let scalar) = document, scalar.string.isEmpty, scalar.style == .plain { continue }
                let before = validator.problems.count
                validator.validate(document, against: schema, field: FieldPath())
                guard validator.problems.count == before else { continue }
                switch requests(of: document, schema: schema, file: file) {
                case .success(let made):
                    let mark = document.mark
                    documents.append(
                        JobSpecDocument(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, requests: made))
                case .failure(let found): problems += found.problems
                }
            }
        } catch {
            problems.append(problem(from: error, file: file))
        }
        problems = validator.problems + problems
        if problems.isEmpty && documents.isEmpty {
            problems.append(
                JobSpecProblem(
                    file: file, line: 1, column: 1, field: "", message: "no job spec",
                    hint: "expected a document with `apiVersion: orchion/v1` and `kind: Job`"))
        }
        guard problems.isEmpty else {
            let ordered = problems.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }
            throw JobSpecFileError(ordered.map(\.element))
        }
        return documents
    }

    /// The requests of one document that passed the schema, after the
    /// server's own checks, its array copies expanded.
    private static func requests(
        of document: YAMLNode, schema: JobSchema, file: String
    ) -> Result<[Orchion_V1_SubmitJobRequest], JobSpecFileError> {
        var problems: [JobSpecProblem] = []
        func report(_ field: String, _ message: String, _ hint: String) {
            let node = Self.node(at: field, in: document)
            problems.append(
                JobSpecProblem(
                    file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, field: field,
                    message: message, hint: hint))
        }
        let request: Orchion_V1_SubmitJobRequest
        switch ProtoJSONWriter.request(document, schema: schema) {
        case .success(let written): request = written
        case .failure(let failure):
            report("", "cannot write the request", failure.description)
            return .failure(JobSpecFileError(problems))
        }
        // What the server checks on submit, with the same code where it is shared.
        do throws(OrchionCore.JobSpecError) {
            try OrchionCore.JobSpec(request.spec, id: "client-check").validate()
        } catch {
            if case .invalidField(let field, let expected, let found) = error {
                report(field, "invalid `\(field)`", "expected \(expected), found \(found)")
            }
        }
        let specBytes = (try? request.spec.serializedBytes() as [UInt8])?.count ?? Int.max
        if specBytes > specByteLimit {
            report("", "job spec too large", "expected at most \(specByteLimit) bytes serialized, found \(specBytes)")
        }
        // Not `document["count"]`: Yams's subscript compares keys by resolved tag (regular expressions).
        let countNode = document.mapping?.first { $0.key.string == "count" }?.value
        let count = countNode?.int ?? 1
        let isArray = countNode != nil
        let suffix = isArray ? "[\(count - 1)]" : ""
        if request.requestID.utf8.count + suffix.utf8.count > requestIDByteLimit || request.requestID.utf8.contains(0) {
            report(
                "requestId", "invalid `requestId`",
                "expected at most \(requestIDByteLimit - suffix.utf8.count) bytes without NUL"
                    + (isArray ? " (the array index is added to it)" : ""))
        }
        if isArray {
            if request.spec.name.utf8.count + suffix.utf8.count > OrchionCore.JobSpec.nameLimit {
                report(
                    "name", "invalid `name`",
                    "expected at most \(OrchionCore.JobSpec.nameLimit - suffix.utf8.count) bytes in an array job "
                        + "(the index is added to it)")
            }
            for variable in [arrayIndexVariable, arrayCountVariable] where request.spec.env[variable] != nil {
                report(
                    "env.\(variable)", "`env.\(variable)` is set by `count`",
                    "remove it, or remove `count`")
            }
        }
        guard problems.isEmpty else { return .failure(JobSpecFileError(problems)) }
        return .success(isArray ? arrayCopies(of: request, count: count) : [request])
    }

    /// The `count` copies of an array job (as `count: N` in a spec makes
    /// them, for `--count N` on the command line): copy `i` from 0 with
    /// `ORCHION_ARRAY_INDEX=i` and `ORCHION_ARRAY_COUNT=count` in its
    /// environment and `[i]` after its name and request id, where those are
    /// set. Checks nothing: a spec file's are checked where they are read.
    public static func arrayCopies(
        of request: Orchion_V1_SubmitJobRequest, count: Int
    ) -> [Orchion_V1_SubmitJobRequest] {
        (0..<max(count, 0)).map { index in
            var copy = request
            copy.spec.env[arrayIndexVariable] = String(index)
            copy.spec.env[arrayCountVariable] = String(count)
            if !copy.spec.name.isEmpty { copy.spec.name += "[\(index)]" }
            if !copy.requestID.isEmpty { copy.requestID += "[\(index)]" }
            return copy
        }
    }

    /// The deepest node on dotted `field` in `document` (the key's node
    /// where the field is a key), or the document.
    private static func node(at field: String, in document: YAMLNode) -> YAMLNode {
        var current = document
        var found = document
        for name in field.split(separator: ".").map(String.init) {
            guard let mapping = current.mapping, let pair = mapping.first(where: { $0.key.string == name }) else {
                break
            }
            found = pair.key
            current = pair.value
        }
        return found
    }

    /// A problem for a YAML syntax error.
    private static func problem(from error: any Error, file: String) -> JobSpecProblem {
        func at(_ mark: Mark?, _ message: String, _ hint: String = "") -> JobSpecProblem {
            JobSpecProblem(
                file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, field: "", message: message, hint: hint)
        }
        switch error as? YamlError {
        case .scanner(_, let problem, let mark, _)?, .parser(_, let problem, let mark, _)?,
            .composer(_, let problem, let mark, _)?:
            return at(mark, "not valid YAML", problem)
        case .duplicatedKeysInMapping(let duplicates, let context)?:
            let keys = duplicates.map { "`\($0)`" }.joined(separator: ", ")
            return at(context.mark, "field given twice", "\(keys) in the mapping starting here")
        case .reader(let problem, _, _, _)?:
            return at(nil, "not valid YAML", problem)
        default:
            return at(nil, "not valid YAML", "\(error)")
        }
    }
}

/// One document of a job spec file and the requests it became (several
/// for an array job).
///
/// Threading: a value; safe anywhere.
public struct JobSpecDocument: Sendable {
    /// The file as the caller named it.
    public var file: String
    /// Where the document starts, from 1.
    public var line: Int
    public var column: Int
    /// Its requests: one, or an array job's copies in index order.
    public var requests: [Orchion_V1_SubmitJobRequest]
}
