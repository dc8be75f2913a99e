import ClusterTestSupport
import Foundation
import OrchionLoop
import TestSupport
import Testing

/// The walkthrough's first job, run literally: the commands between the
/// `walkthrough:first-job` markers of README.md (the same block as
/// docs/walkthrough.md's), in one bash script, against a real `orchion up`
/// in a fresh home directory — what a newcomer types after `bash .ci/up`.
@Suite(.serialized) struct WalkthroughTests {
    /// The commands of the block between the markers in `file`.
    static func firstJob(in file: String) throws -> String {
        let text = try String(contentsOf: Paths.root.appendingPathComponent(file), encoding: .utf8)
        guard let start = text.range(of: "<!-- walkthrough:first-job -->"),
            let end = text.range(of: "<!-- /walkthrough:first-job -->", range: start.upperBound..<text.endIndex),
            let open = text.range(of: "```sh\n", range: start.upperBound..<end.lowerBound),
            let close = text.range(of: "```", range: open.upperBound..<end.lowerBound)
        else { throw HarnessError("no walkthrough:first-job block with a sh fence in \(file)") }
        return String(text[open.upperBound..<close.lowerBound])
    }

    @Test func theReadmesFirstJobRunsAsWrittenAgainstOrchionUp() async throws {
        let script = try Self.firstJob(in: "README.md")
        #expect(try Self.firstJob(in: "docs/walkthrough.md") == script, "README and docs/walkthrough.md differ")
        let directory = try Paths.temporaryDirectory("orchion-walkthrough")
        defer { try? FileManager.default.removeItem(at: directory) }
        let home = directory.appendingPathComponent("home")
        // The script's `export PATH="$PWD/.build/release:$PATH"` finds this
        // build's orchion: a checkout whose .build/release is this build.
        let checkout = directory.appendingPathComponent("orchion")
        try FileManager.default.createDirectory(
            at: checkout.appendingPathComponent(".build"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: checkout.appendingPathComponent(".build/release"),
            withDestinationURL: URL(fileURLWithPath: Paths.orchion).deletingLastPathComponent())
        let up = try UpProcess(arguments: [], home: home)
        let thread = try LoopThread()
        do {
            // As a reader does: the second terminal once `orchion up` says its agent connected.
            let control = try await ControlClient.connect(
                up.address, loop: thread.loop,
                token: try UpProcess.clientToken(in: home.appendingPathComponent(".local/share/orchion")))
            _ = try await up.readyNode(control)
            await control.client.close()
            var environment = ProcessInfo.processInfo.environment.filter {
                !$0.key.hasPrefix("ORCHION_") && !$0.key.hasPrefix("XDG_")
            }
            environment["HOME"] = home.path
            // `orchion up` listens on a free port here, not 7420.
            environment["ORCHION_SERVER"] = "127.0.0.1:\(up.port)"
            environment["NO_COLOR"] = "1"
            let result = try runCommand(
                ["bash", "-c", "set -euo pipefail; cd \"$1\"; " + script, "walkthrough", checkout.path],
                environment: environment, timeout: 120)
            let output = result.stdout
            #expect(result.status == 0, "exit \(result.status)\nstdout:\n\(output)\nstderr:\n\(result.stderr)")
            #expect(output.contains("ready"), "node list:\n\(output)")
            #expect(output.contains("hello from "), "logs:\n\(output)")
            #expect(output.contains("\ndone\n"), "logs:\n\(output)")
            #expect(output.contains("succeeded"), "job show:\n\(output)")
        } catch {
            up.kill()
            try? thread.shutdown()
            throw HarnessError("\(error)\norchion up stdout:\n\(up.stdout)\nstderr:\n\(up.stderr)")
        }
        up.kill()
        try thread.shutdown()
    }
}
