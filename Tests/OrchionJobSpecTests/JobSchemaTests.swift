import Foundation
import OrchionCore
import OrchionJobSpec
import OrchionMapping
import OrchionProto
import SwiftProtobuf
import TestSupport
import Testing

@testable import OrchionServer

/// The committed schema: current with the protoset, real JSON Schema (a
/// third-party validator agrees with ours), and bounded as the server is.
@Suite struct JobSchemaTests {
    private static let python = Paths.root.appendingPathComponent(".venv/bin/python").path
    private static let schema = Paths.root.appendingPathComponent("sdk/schema/job.schema.json")
    private static let swiftSource = Paths.root.appendingPathComponent(
        "Sources/OrchionJobSpec/JobSchema+Generated.swift")

    @Test func committedSchemaAndSwiftLiteralAreWhatTheGeneratorWritesFromTheProtoset() throws {
        let directory = try Paths.temporaryDirectory("jobschema")
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("job.schema.json")
        let swift = directory.appendingPathComponent("JobSchema+Generated.swift")
        let result = try runCommand(
            [
                Self.python, Paths.root.appendingPathComponent("sdk/proto/job_schema.py").path,
                Paths.root.appendingPathComponent("sdk/proto/orchion.protoset").path, json.path, swift.path,
            ], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Data(contentsOf: json) == Data(contentsOf: Self.schema), "run sdk/proto/generate.sh")
        #expect(try Data(contentsOf: swift) == Data(contentsOf: Self.swiftSource), "run sdk/proto/generate.sh")
    }

    @Test func builtInSchemaIsTheCommittedFile() throws {
        #expect(try JobSpecFile.schemaJSON == String(contentsOf: Self.schema, encoding: .utf8))
    }

    /// The schema's numbers against the constants the server enforces them with.
    @Test func schemaBoundsAreTheServersLimits() throws {
        let root = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.schema)) as? [String: Any])
        func property(_ path: String) -> [String: Any]? {
            var node: [String: Any]? = root
            for name in path.split(separator: ".") {
                node = (node?["properties"] as? [String: Any])?[String(name)] as? [String: Any]
            }
            return node
        }
        #expect(property("name")?["maxLength"] as? Int == JobSpec.nameLimit)
        #expect(property("retry.maxAttempts")?["maximum"] as? Int == Int(RetryPolicy.attemptLimit))
        #expect(property("timeout")?["maximum"] as? Int == Int(Google_Protobuf_Duration.jobRangeSeconds))
        #expect(property("retry.backoff")?["maximum"] as? Int == Int(Google_Protobuf_Duration.jobRangeSeconds))
        #expect(property("requestId")?["maxLength"] as? Int == JobSpecFile.requestIDByteLimit)
        #expect(JobSpecFile.specByteLimit == InputBounds.specBytes)
    }

    /// Documents on both sides of the schema's rules, checked by Python's
    /// `jsonschema` and by `JobSpecFile`: the same verdict on each.
    @Test func thirdPartyValidatorAcceptsTheExamplesAndAgreesWithOursOnTypos() throws {
        let directory = try Paths.temporaryDirectory("jobschema")
        defer { try? FileManager.default.removeItem(at: directory) }
        let head = "apiVersion: orchion/v1\nkind: Job\n"
        let cases: [(name: String, text: String, valid: Bool)] = [
            ("minimal", head + "command: true-ish\n", true),
            ("units", head + "argv: [a]\nresources: {cpu: 500m, memory: 4Gi, gpus: 2}\ntimeout: 1h30m\n", true),
            ("labels", head + "command: a\narch: aarch64\nconstraints: {role: pi, rack: 3}\nenv: {N: 1}\n", true),
            ("array", head + "command: a\ncount: 4\nrequestId: r\n", true),
            ("typo", head + "command: a\nresources:\n  gpu: 1\n", false),
            ("neither", head + "name: n\n", false),
            ("both", head + "command: a\nargv: [b]\n", false),
            ("kind", "apiVersion: orchion/v1\nkind: Pod\ncommand: a\n", false),
            ("size", head + "command: a\nresources: {memory: 4GiB-ish}\n", false),
            ("vendor", head + "command: a\ngpu: {vendor: NVIDIA}\n", false),
            ("arch", head + "command: a\narch: arm64\n", false),
            ("attempts", head + "command: a\nretry: {maxAttempts: 1001}\n", false),
            ("count", head + "command: a\ncount: 0\n", false),
            ("envkey", head + "command: a\nenv: {'A=B': c}\n", false),
        ]
        var paths: [String] = []
        for item in cases {
            let path = directory.appendingPathComponent("\(item.name).yaml").path
            try item.text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
            var ours = true
            do { _ = try JobSpecFile.parse(item.text, file: item.name) } catch { ours = false }
            #expect(ours == item.valid, "JobSpecFile on \(item.name)")
        }
        let examples = ["cpu-job", "gpu-job", "pi-job", "array-job"].map {
            Paths.root.appendingPathComponent("docs/examples/\($0).yaml").path
        }
        let result = try runCommand(
            [Self.python, Paths.root.appendingPathComponent("sdk/schema/check.py").path, Self.schema.path]
                + examples + paths, timeout: 60)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        let verdicts = Dictionary(
            result.stdout.split(separator: "\n").filter { !$0.hasPrefix(" ") }.compactMap { line in
                line.split(separator: ": ").count == 2
                    ? (String(line.split(separator: ": ")[0]), line.split(separator: ": ")[1] == "ok") : nil
            }, uniquingKeysWith: { first, _ in first })
        for path in examples { #expect(verdicts[path] == true, "jsonschema on \(path): \(result.stdout)") }
        for (item, path) in zip(cases, paths) {
            #expect(verdicts[path] == item.valid, "jsonschema on \(item.name): \(result.stdout)")
        }
        #expect(result.status == 1)
    }
}
