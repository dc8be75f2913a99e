import OrchionCore
import OrchionJobSpec
import OrchionMapping
import OrchionProto

/// Arbitrary bytes as a YAML job spec file, through the whole of
/// `JobSpecFile.parse` (Yams, the schema validator, units, the submit
/// checks). What must hold: no crash or hang, whatever the input (deep
/// nesting, alias bombs, huge numbers, invalid UTF-8 made lossy); every
/// problem points into the text (line and column from 1, the line within
/// it, or its end); every request it accepts is one the server would accept (its spec
/// passes `JobSpec.validate` and fits the size limit).
///
/// Layout: the whole input is the file's text.
enum JobSpecHarness {
    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let lines = yamlLines(text)
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
                // libyaml puts "unexpected end" on the line after a last line
                // with no newline, at column 1: the end of the file.
                let atEnd = problem.line == lines + 1 && problem.column == 1
                precondition(
                    problem.line >= 1 && (problem.line <= lines || atEnd) && problem.column >= 1,
                    "a problem at \(problem.line):\(problem.column) of a \(lines)-line text: \(problem)")
            }
        }
    }

    /// Lines as YAML counts them: a break is LF, CR, CRLF (one), NEL, LS or PS.
    static func yamlLines(_ text: String) -> Int {
        var lines = 1
        var afterCR = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": lines += 1
            case "\n" where !afterCR: lines += 1
            case "\u{85}", "\u{2028}", "\u{2029}": lines += 1
            default: break
            }
            afterCR = scalar == "\r"
        }
        return lines
    }
}
