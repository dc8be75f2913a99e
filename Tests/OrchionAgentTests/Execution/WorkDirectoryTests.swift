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

    /// Found by attack: a shared directory was chmodded 711 and emptied of
    /// its `orchion-*` entries, and a root below another user's directory
    /// (or a link to one) was accepted, so that user could swap it.
    @Test(.enabled(if: geteuid() == 0, "chown needs root"))
    func sharedRootsAndRootsBelowAnotherUsersDirectoryAreRefusedAndNothingIsChanged() throws {
        let base = try Paths.temporaryDirectory("orchion-work")
        defer { try? FileManager.default.removeItem(at: base) }
        chmod(base.path, 0o755)
        let shared = base.appendingPathComponent("shared").path
        #expect(mkdir(shared, 0o755) == 0 && chmod(shared, 0o1777) == 0)
        let kept = shared + "/orchion-users-data"
        #expect(mkdir(kept, 0o755) == 0)
        let refused = #expect(throws: JobRunnerError.self) { try WorkDirectory.prepareRoot(shared) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("others may write to it"))
        var info = stat()
        #expect(stat(shared, &info) == 0 && info.st_mode & 0o7777 == 0o1777, "left as it was")
        #expect(FileManager.default.fileExists(atPath: kept), "nothing of it removed")

        let theirs = base.appendingPathComponent("theirs").path
        #expect(mkdir(theirs, 0o755) == 0 && chown(theirs, 65534, 65534) == 0)
        #expect(throws: JobRunnerError.self) { try WorkDirectory.prepareRoot(theirs + "/jobs") }
        let link = base.appendingPathComponent("link").path
        #expect(symlink(theirs, link) == 0)
        let linked = #expect(throws: JobRunnerError.self) { try WorkDirectory.prepareRoot(link + "/jobs2") }
        #expect("\(linked.map { "\($0)" } ?? "")".contains("owned by uid 65534"))

        let existing = base.appendingPathComponent("existing").path
        #expect(mkdir(existing, 0o755) == 0)
        #expect(throws: JobRunnerError.self) { try WorkDirectory.prepareRoot(existing) }
        #expect(stat(existing, &info) == 0 && info.st_mode & 0o7777 == 0o755, "not chmodded: the agent did not make it")

        let fresh = base.appendingPathComponent("fresh").path
        try WorkDirectory.prepareRoot(fresh)
        #expect(stat(fresh, &info) == 0 && info.st_mode & 0o7777 == 0o711)
        try WorkDirectory.prepareRoot(fresh)
    }
}
