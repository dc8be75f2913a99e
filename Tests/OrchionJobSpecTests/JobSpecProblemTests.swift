import Foundation
import OrchionJobSpec
import OrchionProto
import TestSupport
import Testing

/// Refused specs: every problem, in file order, with file, line, column,
/// field and what was expected.
@Suite struct JobSpecProblemTests {
    /// The problems `text` is refused with, as printed; [] when accepted.
    private func problems(_ text: String) -> [String] {
        do {
            _ = try JobSpecFile.parse(text, file: "job.yaml")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func typoUnderResourcesIsNamedWithLineColumnAndSuggestion() throws {
        let text = """
            apiVersion: orchion/v1
            kind: Job
            name: train
            command: python train.py
            resources:
              cpu: 2
              gpu: 1
            """
        #expect(throws: JobSpecFileError.self) { try JobSpecFile.parse(text, file: "job.yaml") }
        do {
            _ = try JobSpecFile.parse(text, file: "job.yaml")
        } catch {
            #expect(error.description == "unknown field `gpu` at job.yaml:7:3; did you mean `gpus`?")
            #expect(
                error.problems == [
                    JobSpecProblem(
                        file: "job.yaml", line: 7, column: 3, field: "resources.gpu", message: "unknown field `gpu`",
                        hint: "did you mean `gpus`?")
                ])
        }
    }

    @Test func aFieldOneLevelTooHighIsPointedToItsPlace() {
        #expect(
            problems("apiVersion: orchion/v1\nkind: Job\ncommand: a\nmemory: 4Gi\nmaxAttempts: 3\n") == [
                "unknown field `memory` at job.yaml:4:1; did you mean `resources.memory`?",
                "unknown field `maxAttempts` at job.yaml:5:1; did you mean `retry.maxAttempts`?",
            ])
    }

    @Test func everyProblemIsReportedInFileOrder() {
        let text = """
            apiVersion: orchion/v2
            kind: job
            comand: true
            resources:
              memory: 4Gx
              cpu: -1
            timeout: 10y
            priority: high
            gpu: {vendor: NVIDIA}
            """
        #expect(
            problems(text) == [
                "missing field `command` or `argv` at job.yaml:1:1; expected exactly one of `command` and `argv`",
                "invalid `apiVersion` at job.yaml:1:13; expected `orchion/v1`, found the string `orchion/v2`",
                "invalid `kind` at job.yaml:2:7; expected `Job`, found the string `job`",
                "unknown field `comand` at job.yaml:3:1; did you mean `command`?",
                "invalid `resources.memory` at job.yaml:5:11; expected a size such as `512Mi`, `4Gi`, `1.5G` or a "
                    + "number of bytes, found the string `4Gx`",
                "invalid `resources.cpu` at job.yaml:6:8; expected at least 0, found the integer `-1`",
                "invalid `timeout` at job.yaml:7:10; expected a duration such as `90s`, `10m`, `1h30m` or a number of "
                    + "seconds, found the string `10y`",
                "invalid `priority` at job.yaml:8:11; expected an integer, found the string `high`",
                "invalid `gpu.vendor` at job.yaml:9:15; expected one of `nvidia`, `amd`, `intel`, found the string "
                    + "`NVIDIA`; did you mean `nvidia`?",
            ])
    }

    @Test func problemsOfSeveralDocumentsAreReportedTogether() {
        let text = """
            apiVersion: orchion/v1
            kind: Job
            command: a
            argv: [b]
            ---
            apiVersion: orchion/v1
            kind: Job
            ---
            apiVersion: orchion/v1
            kind: Job
            command: fine
            """
        #expect(
            problems(text) == [
                "`argv` given with `command` at job.yaml:4:1; expected exactly one of `command` and `argv`",
                "missing field `command` or `argv` at job.yaml:6:1; expected exactly one of `command` and `argv`",
            ])
    }

    @Test func valuesTheServerRefusesAreRefusedWithTheirPlace() {
        let text = """
            apiVersion: orchion/v1
            kind: Job
            argv: ['', x]
            env: {'A=B': x}
            arch: arm64
            gpu: {minMemory: 99999999999Ei}
            retry: {maxAttempts: 5000, backoff: 1.5}
            name: "a\\nb"
            count: 0
            """
        #expect(
            problems(text) == [
                "invalid `argv[0]` at job.yaml:3:8; expected a non-empty string, found an empty string",
                "invalid key `env.A=B` at job.yaml:4:7; expected a variable name without `=`, found the string `A=B`",
                "invalid `arch` at job.yaml:5:7; expected an architecture as `uname -m` prints it: `aarch64` (not "
                    + "`arm64`), `x86_64` (not `amd64`), found the string `arm64`",
                "invalid `gpu.minMemory` at job.yaml:6:18; expected at most 16 EiB, found the string `99999999999Ei`",
                "invalid `retry.maxAttempts` at job.yaml:7:22; expected at most 1000, found the integer `5000`",
                "invalid `retry.backoff` at job.yaml:7:37; expected an integer or a string, found the number `1.5`",
                "invalid `name` at job.yaml:8:7; expected one line, found the string `a\\nb`",
                "invalid `count` at job.yaml:9:8; expected at least 1, found the integer `0`",
            ])
    }

    @Test func aBareYAMLBooleanForAStringIsRefusedWithAQuotingHint() {
        #expect(
            problems("apiVersion: orchion/v1\nkind: Job\ncommand: true\n") == [
                "invalid `command` at job.yaml:3:10; expected a string, found the boolean `true` "
                    + "(quote it for a string: \"true\")"
            ])
        #expect(problems("apiVersion: orchion/v1\nkind: Job\ncommand: \"true\"\n") == [])
    }

    @Test func aNULByteIsRefusedByTheServersOwnCheck() {
        // The schema cannot say "no NUL"; OrchionCore's JobSpec.validate, which the server runs, does.
        #expect(
            problems("apiVersion: orchion/v1\nkind: Job\ncommand: \"a\\0b\"\n") == [
                "invalid `spec` at job.yaml:1:1; expected strings without NUL bytes, found a NUL byte"
            ])
    }

    @Test func aSpecOverTheServersSizeLimitIsRefused() {
        let long = String(repeating: "x", count: JobSpecFile.specByteLimit)
        #expect(
            problems("apiVersion: orchion/v1\nkind: Job\ncommand: \(long)\n") == [
                "job spec too large at job.yaml:1:1; expected at most 1048576 bytes serialized, found 1048580",
                "invalid `command` at job.yaml:3:1; expected under 131072 bytes (the kernel's limit for one "
                    + "argument or variable), found 1048576 bytes",
            ])
    }

    @Test func yamlSyntaxErrorsAndDuplicateKeysHaveTheirPlace() {
        #expect(
            problems("apiVersion: orchion/v1\nkind: Job\ncommand: [a\n") == [
                "not valid YAML at job.yaml:4:1; did not find expected ',' or ']'"
            ])
        #expect(
            problems("apiVersion: orchion/v1\nkind: Job\ncommand: a\ncommand: b\n") == [
                "field given twice at job.yaml:3:1; `command` in the mapping starting here"
            ])
    }

    @Test func aFileWithoutAJobOrWithANonMappingIsRefused() {
        let none = "no job spec at job.yaml:1:1; expected a document with `apiVersion: orchion/v1` and `kind: Job`"
        #expect(problems("") == [none])
        #expect(problems("---\n# nothing\n---\n") == [none])
        #expect(problems("- a\n- b\n") == ["invalid document at job.yaml:1:1; expected a mapping, found a list"])
    }

    @Test func arrayVariablesCannotBeSetByHand() {
        let text = """
            apiVersion: orchion/v1
            kind: Job
            command: a
            count: 3
            env:
              ORCHION_ARRAY_INDEX: 1
            """
        #expect(
            problems(text) == [
                "`env.ORCHION_ARRAY_INDEX` is set by `count` at job.yaml:6:3; remove it, or remove `count`"
            ])
    }

    @Test func anArrayJobsRequestIDLeavesRoomForTheIndex() {
        let id = String(repeating: "r", count: 254)
        let text = "apiVersion: orchion/v1\nkind: Job\ncommand: a\nrequestId: \(id)\n"
        #expect(problems(text) == [])
        #expect(
            problems(text + "count: 10\n") == [
                "invalid `requestId` at job.yaml:4:1; expected at most 253 bytes without NUL "
                    + "(the array index is added to it)"
            ])
    }

    @Test func emptyDocumentsAreSkippedAndTheRestKeepFileOrder() throws {
        let text = """
            ---
            apiVersion: orchion/v1
            kind: Job
            name: first
            command: a
            ---
            ---
            apiVersion: orchion/v1
            kind: Job
            name: second
            argv: [b]
            """
        let requests = try JobSpecFile.parse(text, file: "job.yaml")
        #expect(requests.map(\.spec.name) == ["first", "second"])
        #expect(requests.map(\.spec.command) == ["a", ""])
        #expect(requests.map(\.spec.argv) == [[], ["b"]])
    }

    @Test func aByteOrderMarkAndCRLFLineEndingsAreRead() throws {
        let text = "\u{FEFF}apiVersion: orchion/v1\r\nkind: Job\r\ncommand: a\r\nresources:\r\n  gpu: 1\r\n"
        #expect(problems(text) == ["unknown field `gpu` at job.yaml:5:3; did you mean `gpus`?"])
        #expect(
            try JobSpecFile.parse(text.replacingOccurrences(of: "gpu:", with: "gpus:"), file: "job.yaml").count == 1)
    }

    @Test func loadReportsUnreadableFilesAndProblemsOfEveryFile() throws {
        let directory = try Paths.temporaryDirectory("jobspec")
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.yaml").path
        let bad = directory.appendingPathComponent("bad.yaml").path
        let missing = directory.appendingPathComponent("missing.yaml").path
        try "apiVersion: orchion/v1\nkind: Job\ncommand: a\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "apiVersion: orchion/v1\nkind: Job\ncommand: a\ntimout: 1m\n".write(
            toFile: bad, atomically: true, encoding: .utf8)
        #expect(try JobSpecFile.load(path: good).map(\.spec.command) == ["a"])
        do {
            _ = try JobSpecFile.load(paths: [bad, good, missing, directory.path])
            Issue.record("files with problems were accepted")
        } catch {
            #expect(
                error.problems.map(\.description) == [
                    "unknown field `timout` at \(bad):4:1; did you mean `timeout`?",
                    "cannot open \(missing): No such file or directory at \(missing):1:1",
                    "\(directory.path) is a directory at \(directory.path):1:1",
                ])
        }
    }
}
