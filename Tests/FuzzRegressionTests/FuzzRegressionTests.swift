import Foundation
import FuzzHarness
import Testing

/// Replays every committed fuzz input — the seed corpora under
/// Tests/Fuzz/Corpus and the crashers under Tests/Fuzz/Regressions —
/// through the same harness function the fuzzer runs, without a sanitizer.
/// Each input runs in a child process (an exit test), so a crash fails its
/// own test case instead of the whole run.
@Suite struct FuzzRegressionTests {
    @Test(arguments: FuzzTarget.allCases)
    func everyTargetHasSeeds(_ target: FuzzTarget) throws {
        #expect(try !FuzzInputs.files(in: FuzzInputs.corpus, for: target).isEmpty)
    }

    /// A crasher whose bug is not fixed yet is a known issue while it still
    /// crashes; once it no longer does, the test fails and says to delete
    /// its entry in `KnownCrasher.all`.
    @Test(arguments: FuzzInputs.all())
    func replaysWithoutACrash(_ input: CommittedInput) async {
        let (target, path) = (input.target, input.url.path)
        if let bug = input.knownBug {
            await withKnownIssue(Comment(rawValue: bug), isIntermittent: input.knownIntermittent) {
                await #expect(processExitsWith: .success) { [target = target as FuzzTarget, path = path as String] in
                    target.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
                }
            }
        } else {
            await #expect(processExitsWith: .success) { [target = target as FuzzTarget, path = path as String] in
                target.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            }
        }
    }

    @Test func everyKnownCrasherIsCommitted() {
        for crasher in KnownCrasher.all {
            let url = FuzzInputs.regressions.appendingPathComponent(crasher.target.rawValue)
                .appendingPathComponent(crasher.name)
            #expect(FileManager.default.fileExists(atPath: url.path), "\(crasher.name) is listed but not committed")
        }
    }
}

/// One committed input file of one target.
struct CommittedInput: Sendable, CustomTestStringConvertible {
    let target: FuzzTarget
    let url: URL

    /// The bug it still triggers, when it is a known crasher.
    var knownBug: String? {
        guard url.deletingLastPathComponent().deletingLastPathComponent() == FuzzInputs.regressions else {
            return nil
        }
        return KnownCrasher.all.first { $0.target == target && $0.name == url.lastPathComponent }?.bug
    }

    /// Whether the known crasher depends on timing (the test then passes
    /// whether or not it crashed this time).
    var knownIntermittent: Bool {
        KnownCrasher.all.first { $0.target == target && $0.name == url.lastPathComponent }?.intermittent ?? false
    }

    var testDescription: String {
        "\(url.deletingLastPathComponent().deletingLastPathComponent().lastPathComponent)/"
            + "\(target.rawValue)/\(url.lastPathComponent)"
    }
}

/// Where the committed inputs are: found from this file's path, so the tests
/// run from any checkout.
enum FuzzInputs {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")
    static let corpus = root.appendingPathComponent("Corpus")
    static let regressions = root.appendingPathComponent("Regressions")

    /// The files of `target` under `folder`, sorted by name.
    static func files(in folder: URL, for target: FuzzTarget) throws -> [URL] {
        let directory = folder.appendingPathComponent(target.rawValue)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            .filter { !$0.hasPrefix(".") }
            .map { directory.appendingPathComponent($0) }
    }

    /// Every seed and regression input of every target (none when a folder
    /// cannot be read; `everyTargetHasSeeds` then fails).
    static func all() -> [CommittedInput] {
        FuzzTarget.allCases.flatMap { target in
            [corpus, regressions].flatMap { folder in
                ((try? files(in: folder, for: target)) ?? []).map { CommittedInput(target: target, url: $0) }
            }
        }
    }
}

/// A committed crasher whose bug is not fixed on this branch.
struct KnownCrasher: Sendable {
    let target: FuzzTarget
    /// The file's name under Tests/Fuzz/Regressions/<target>.
    let name: String
    /// The bug, named so it can be found: what crashes and where.
    let bug: String
    /// Whether it crashes only when the server writes after the reset arrived.
    var intermittent = false

    static let all: [KnownCrasher] = [
        KnownCrasher(
            target: .http1, name: "authorization-invalid-utf8-in-first-7-bytes",
            bug: "Authenticator.authenticate force-unwraps String(authorization.utf8.prefix(7)), nil when the "
                + "7th byte of the Authorization value ends inside a UTF-8 scalar or invalid bytes: one request "
                + "without a token kills the server; issue 6 item 1"),
        KnownCrasher(
            target: .http2, name: "authorization-invalid-utf8-in-first-7-bytes",
            bug: "The same Authenticator.authenticate force-unwrap, reached from GRPCServerCall: one gRPC call "
                + "whose authorization header has a split or invalid UTF-8 scalar in its first 7 bytes kills the "
                + "server; issue 6 item 1"),
        KnownCrasher(
            target: .http1, name: "peer-resets-during-event-stream",
            bug: "A peer that resets its connection while the server writes an SSE stream kills the server with "
                + "SIGPIPE (SIGABRT in the harness): uv_write2 from Stream.write (OrchionLoop/Stream.swift:74) "
                + "from HTTP1Connection.write via EventStream.send; SIGPIPE is not ignored; issue 6 item 1",
            intermittent: true),
        KnownCrasher(
            target: .http1, name: "peer-resets-during-pipelined-answers",
            bug: "A peer that resets its connection while the server writes answers to pipelined requests kills "
                + "the server with SIGPIPE (SIGABRT in the harness): uv_write2 from Stream.write from "
                + "HTTP1Connection.write via HTTPResponder.send; issue 6 item 1",
            intermittent: true),
        KnownCrasher(
            target: .http1, name: "peer-resets-during-error-answer",
            bug: "A peer that sends a malformed request and resets its connection kills the server with SIGPIPE "
                + "(SIGABRT in the harness): uv_write2 from Stream.write from HTTP1Connection.fail "
                + "(HTTP1Connection.swift:97); issue 6 item 1",
            intermittent: true),
        KnownCrasher(
            target: .http2, name: "peer-resets-during-unary-answer",
            bug: "A gRPC peer that resets its connection while the server writes (SETTINGS, the answer) kills "
                + "the server with SIGPIPE (SIGABRT in the harness): uv_write2 from Stream.write from "
                + "HTTP2Connection.flush (HTTP2Connection.swift:157); issue 6 item 1",
            intermittent: true),
        KnownCrasher(
            target: .pluginDescriptor, name: "executor-vtable-read-before-size-check",
            bug: "PluginLibrary.validate(vtable:kind:file:) loads the whole 56-byte orchion_executor_vtable before "
                + "checking its struct_size (32 here), so a smaller vtable that ends where readable memory ends "
                + "faults (SIGSEGV); issue 6 items 3 and 7"),
        KnownCrasher(
            target: .pluginDescriptor, name: "vtable-shorter-than-its-size-field",
            bug: "PluginLibrary.validate(vtable:kind:file:) reads the vtable's struct_size (4 bytes) without "
                + "knowing how many bytes are readable behind the descriptor's vtable pointer, so a vtable that "
                + "ends where readable memory ends faults (SIGSEGV); issue 6 items 3 and 7"),
        KnownCrasher(
            target: .pluginDescriptor, name: "descriptor-shorter-than-its-header",
            bug: "PluginLibrary.validate(_:file:) reads struct_size, abi_major and abi_minor (8 bytes) without "
                + "knowing how many bytes are readable, so a descriptor that ends where readable memory ends "
                + "faults (SIGSEGV); issue 6 item 7, fixed by validating against a readable byte count"),
        KnownCrasher(
            target: .pluginDescriptor, name: "descriptor-shorter-than-declared",
            bug: "PluginLibrary.validate(_:file:) reads the whole 48-byte descriptor (pointer.pointee) once "
                + "struct_size says 48, though fewer bytes are readable, so a descriptor whose declared size lies "
                + "faults (SIGSEGV); issue 6 item 7"),
    ]
}
