import OrchionCore
import OrchionJobSpec
import OrchionMapping
import OrchionProto

/// Arbitrary bytes as a YAML job spec file, through the whole of
/// `JobSpecFile.parse` (Yams, the schema validator, units, the submit
/// checks). What must hold: no crash or hang, whatever the input (deep
/// nesting, alias bombs, huge numbers, invalid UTF-8 made lossy); every
/// problem points into the text (line and column from 1, the line within
/// it); every request it accepts is one the server would accept (its spec
/// passes `JobSpec.validate` and fits the size limit).
///
/// Layout: the whole input is the file's text.
enum JobSpecHarness {
    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let lines = text.utf8.count { $0 == UInt8(ascii: "\n") } + 1
        do throws(JobSpecFileError) {
            for (index, request) in try JobSpecFile.parse(text, file: "fuzz.yaml").enumerated() {
                do {
                    try JobSpec(request.spec, id: "fuzz-\(index)").validate()
                } catch {
                    preconditionFailure("accepted a spec the server refuses: \(error)")
                }
                let size = (try? request.spec.serializedBytes() as [UInt8])?.count ?? Int.max
                precondition(size <= JobSpecFile.specByteLimit, "accepted a spec of \(size) bytes")
            }
        } catch {
            precondition(!error.problems.isEmpty, "refused with no problem named")
            for problem in error.problems {
                precondition(problem.file == "fuzz.yaml", "a problem names \(problem.file)")
                precondition(
                    problem.line >= 1 && problem.line <= lines && problem.column >= 1,
                    "a problem at \(problem.line):\(problem.column) of a \(lines)-line text: \(problem)")
            }
        }
    }
}
