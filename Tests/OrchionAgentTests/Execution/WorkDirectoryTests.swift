import Foundation
import Glibc
import OrchionAgent
import TestSupport
import Testing

/// The per-attempt working directories: their removal never follows a link
/// a job left, and their root must be the agent's own.
@Suite struct WorkDirectoryTests {
    @Test func removingAJobsDirectoryDeletesItsTreeButNothingALinkInItPointsTo() throws {
        let base = try Paths.temporaryDirectory("orchion-work")
        defer { try? FileManager.default.removeItem(at: base) }
        let outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: outside.appendingPathComponent("precious"))
        let work = base.appendingPathComponent("orchion-job-1")
        let nested = work.appendingPathComponent("a/b/c")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: nested.appendingPathComponent("file"))
        try FileManager.default.createSymbolicLink(
            at: work.appendingPathComponent("a/link"), withDestinationURL: outside)
        // A name that is not UTF-8.
        let raw = (Array(work.path.utf8) + Array("/raw-".utf8) + [0xFF, 0]).map { CChar(bitPattern: $0) }
        let descriptor = creat(raw, 0o600)
        #expect(descriptor >= 0)
        close(descriptor)

        #expect(WorkDirectory.remove(work.path) == nil)
        #expect(!FileManager.default.fileExists(atPath: work.path))
        #expect(try String(contentsOf: outside.appendingPathComponent("precious"), encoding: .utf8) == "keep")
    }

    @Test(.enabled(if: geteuid() == 0, "chown needs root"))
    func aRootOwnedBySomeoneElseIsRefused() throws {
        let base = try Paths.temporaryDirectory("orchion-work")
        defer { try? FileManager.default.removeItem(at: base) }
        let root = base.appendingPathComponent("jobs").path
        #expect(mkdir(root, 0o711) == 0)
        #expect(chown(root, 65534, 65534) == 0)
        #expect(throws: JobRunnerError.workDirectory(root, "owned by uid 65534, expected 0 (the agent's user)")) {
            try WorkDirectory.prepareRoot(root)
        }
    }
}
