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

    /// None today: every crasher found so far is fixed.
    static let all: [KnownCrasher] = []
}
