import Foundation
import TestSupport
import Testing

@testable import OrchionServer

/// Node credential rows (digests and tombstones) in a real SQLite file.
@Suite struct NodeCredentialStoreTests {
    private func withDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let directory = try Paths.temporaryDirectory("orchion-credentials")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }

    private let digestA = String(repeating: "ab", count: 32)
    private let digestB = String(repeating: "cd", count: 32)

    @Test func credentialRowsAreReplacedTombstonedAndDeletedAcrossReopen() async throws {
        try await withDirectory { directory in
            let (store, initial) = try StateStore.open(directory: directory.path)
            #expect(initial.nodeCredentials.isEmpty)
            _ = try await store.commit([
                .putNodeCredential(StoredNodeCredential(nodeID: "a", digest: digestA, removed: false, changedAt: 1)),
                .putNodeCredential(StoredNodeCredential(nodeID: "b", digest: digestA, removed: false, changedAt: 2)),
            ])
            // Joining again replaces a's row; removing b keeps its last digest, flagged.
            _ = try await store.commit([
                .putNodeCredential(StoredNodeCredential(nodeID: "a", digest: digestB, removed: false, changedAt: 3)),
                .putNodeCredential(StoredNodeCredential(nodeID: "b", digest: digestA, removed: true, changedAt: 4)),
                .putNodeCredential(StoredNodeCredential(nodeID: "c", digest: "", removed: true, changedAt: 5)),
            ])
            _ = try await store.commit([.deleteNodeCredential("c"), .deleteNodeCredential("absent")])
            store.close()
            let (reopened, state) = try StateStore.open(directory: directory.path)
            reopened.close()
            #expect(
                state.nodeCredentials == [
                    StoredNodeCredential(nodeID: "a", digest: digestB, removed: false, changedAt: 3),
                    StoredNodeCredential(nodeID: "b", digest: digestA, removed: true, changedAt: 4),
                ])
        }
    }

    @Test func aSchemaOneFileGainsTheCredentialTableAndKeepsItsJobsWithTheirRequestIDsApart() async throws {
        try await withDirectory { directory in
            // A file as the first schema left it (an older server's).
            let path = directory.appendingPathComponent(StoreOptions().fileName).path
            let made = try runCommand([
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); "
                    + "c.execute(\"INSERT INTO jobs VALUES ('j', 'ci/abc', 'pending', 1, x'00')\"); "
                    + "c.execute('PRAGMA user_version = 1'); c.commit()",
                path, StoreSchema.migrations[0],
            ])
            #expect(made.status == 0, "\(made.stderr)")
            let (store, state) = try StateStore.open(directory: directory.path)
            #expect(state.schemaVersion == StateStore.schemaVersion && StateStore.schemaVersion >= 2)
            #expect(state.jobs.map(\.id) == ["j"] && state.nodeCredentials.isEmpty)
            // Its request id, from before ids were kept per token, is no token's key (migration 3).
            #expect(state.jobs.first?.requestID == "/ci/abc")
            #expect(StoredJob.requestKey("abc", submittedBy: "ci") != "/ci/abc")
            #expect(StoredJob.requestID(fromKey: "/ci/abc") == "ci/abc")
            _ = try await store.commit([
                .putNodeCredential(StoredNodeCredential(nodeID: "a", digest: digestA, removed: false, changedAt: 1))
            ])
            store.close()
            let (reopened, again) = try StateStore.open(directory: directory.path)
            reopened.close()
            #expect(again.nodeCredentials.map(\.nodeID) == ["a"])
        }
    }
}
