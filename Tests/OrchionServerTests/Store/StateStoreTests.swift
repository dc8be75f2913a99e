import Foundation
import Synchronization
import TestSupport
import Testing

@testable import OrchionServer

/// The durable store against real SQLite files in a temporary directory.
@Suite struct StateStoreTests {
    /// A fresh temporary directory, removed by `body`'s end.
    private func withDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let directory = try Paths.temporaryDirectory("orchion-store")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }

    private func job(_ id: String, request: String? = nil, state: String = "pending", order: UInt64, size: Int = 64)
        -> StoredJob
    {
        StoredJob(
            id: id, requestID: request, state: state, order: order,
            record: (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ Int(order)) })
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int) ?? -1
    }

    /// Polls `condition` every 10 ms until it holds or `seconds` pass.
    private func eventually(within seconds: Double = 30, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    private static var benchBinary: String { Paths.build.appendingPathComponent("orchion-bench").path }

    @Test func everyChangeKindSurvivesCloseAndReopen() async throws {
        try await withDirectory { base in
            let directory = base.appendingPathComponent("state/orchion").path
            let (store, initial) = try StateStore.open(directory: directory)
            #expect(initial.jobs.isEmpty && initial.events.isEmpty && initial.nodes.isEmpty && initial.meta.isEmpty)
            #expect(initial.schemaVersion == StateStore.schemaVersion)
            let first = job("a", request: "req-a", order: 1)
            let updated = job("a", request: "req-a", state: "running", order: 1, size: 1024)
            let plain = StoredJob(id: "b", requestID: nil, state: "pending", order: 2, record: [])
            let events = [
                StoredEvent(sequence: 1, jobID: "a", record: [1, 2, 3]),
                StoredEvent(sequence: 2, jobID: nil, record: []),
            ]
            _ = try await store.commit([.putJob(first), .putEvent(events[0]), .setMeta("cluster", "one")])
            _ = try await store.commit([
                .putJob(updated), .putJob(plain), .putEvent(events[1]),
                .putNode(StoredNode(id: "n1", record: [9])), .putNode(StoredNode(id: "n2", record: [8, 8])),
                .setMeta("cluster", "two"), .setMeta("epoch", "7"),
            ])
            _ = try await store.commit([.deleteNode("n1"), .deleteNode("absent")])
            #expect(FileManager.default.fileExists(atPath: store.path + "-wal"), "WAL mode: the -wal file is in use")
            store.close()
            store.close()

            #expect(try mode(directory) == 0o700)
            #expect(try mode(store.path) == 0o600)
            let (reopened, state) = try StateStore.open(directory: directory)
            defer { reopened.close() }
            #expect(state.jobs == [updated, plain])
            #expect(state.events == events)
            #expect(state.nodes == [StoredNode(id: "n2", record: [8, 8])])
            #expect(state.meta == ["cluster": "two", "epoch": "7"])
        }
    }

    @Test func aRequestIDBelongsToOneJob() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            _ = try await store.commit([.putJob(job("a", request: "r", order: 1))])
            // The same job may be written again with its own request id.
            _ = try await store.commit([.putJob(job("a", request: "r", state: "running", order: 1))])
            await #expect(throws: StoreError.duplicateRequestID(requestID: "r", jobID: "b", existingJobID: "a")) {
                try await store.commit([.putJob(job("c", order: 3)), .putJob(job("b", request: "r", order: 2))])
            }
            // A failed batch leaves nothing behind, and the store goes on.
            _ = try await store.commit([.putJob(job("d", request: "r2", order: 4))])
            store.close()
            let (reopened, state) = try StateStore.open(directory: directory.path)
            reopened.close()
            #expect(state.jobs.map(\.id) == ["a", "d"])
            #expect(state.jobs.first?.state == "running")
        }
    }

    @Test func jobsComeBackInSubmissionOrder() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            let orders: [UInt64] = [5, 1, 4, 2, 3, 9, 7]
            for order in orders {
                _ = try await store.commit([.putJob(job("z\(10 - order)", order: order))])
            }
            store.close()
            let (reopened, state) = try StateStore.open(directory: directory.path)
            reopened.close()
            #expect(state.jobs.map(\.order) == orders.sorted())
            #expect(state.jobs.map(\.id) == orders.sorted().map { "z\(10 - $0)" })
        }
    }

    @Test func eventsBeyondRetentionArePrunedOnCommitAndOnOpen() async throws {
        try await withDirectory { directory in
            var options = StoreOptions()
            options.eventRetention = 10
            let (store, _) = try StateStore.open(directory: directory.path, options: options)
            for start in stride(from: 1, through: 25, by: 5) {
                let batch = (UInt64(start)..<UInt64(start + 5)).map {
                    StoreChange.putEvent(StoredEvent(sequence: $0, jobID: "j", record: [UInt8($0)]))
                }
                _ = try await store.commit(batch)
            }
            store.close()
            let (second, kept) = try StateStore.open(directory: directory.path, options: options)
            second.close()
            #expect(kept.events.map(\.sequence) == Array(16...25))
            options.eventRetention = 3
            let (third, fewer) = try StateStore.open(directory: directory.path, options: options)
            third.close()
            #expect(fewer.events.map(\.sequence) == [23, 24, 25])
            options.eventRetention = nil
            let (fourth, all) = try StateStore.open(directory: directory.path, options: options)
            _ = try await fourth.commit([.putEvent(StoredEvent(sequence: 100, jobID: nil, record: []))])
            fourth.close()
            #expect(all.events.map(\.sequence) == [23, 24, 25])
            let (fifth, unpruned) = try StateStore.open(directory: directory.path, options: options)
            fifth.close()
            #expect(unpruned.events.map(\.sequence) == [23, 24, 25, 100])
        }
    }

    @Test func anEmptyFileIsMigratedToTheNewestSchema() async throws {
        try await withDirectory { directory in
            let path = directory.appendingPathComponent(StoreOptions().fileName).path
            #expect(FileManager.default.createFile(atPath: path, contents: Data()))
            let (store, state) = try StateStore.open(directory: directory.path)
            #expect(state.schemaVersion == StateStore.schemaVersion)
            _ = try await store.commit([.putJob(job("a", order: 1))])
            store.close()
            let (reopened, again) = try StateStore.open(directory: directory.path)
            reopened.close()
            #expect(again.jobs.map(\.id) == ["a"])
        }
    }

    @Test func aNewerMigrationRunsOnceOnAnOlderFileAndAnOlderBuildRefusesTheResult() async throws {
        try await withDirectory { directory in
            let current = StoreSchema.migrations
            let (store, _) = try StateStore.open(
                directory: directory.path, options: StoreOptions(), migrations: current)
            _ = try await store.commit([.putJob(job("kept", order: 1))])
            store.close()
            // A later build adds a table; the data written before survives.
            let later = current + ["CREATE TABLE extra (x INTEGER NOT NULL)"]
            let (upgraded, state) = try StateStore.open(
                directory: directory.path, options: StoreOptions(), migrations: later)
            upgraded.close()
            #expect(state.schemaVersion == current.count + 1)
            #expect(state.jobs.map(\.id) == ["kept"])
            // Reopening with the same build migrates nothing (CREATE TABLE again would fail).
            let (same, _) = try StateStore.open(directory: directory.path, options: StoreOptions(), migrations: later)
            same.close()
            // This build's schema is older than the file's.
            let refusal = #expect(throws: StoreError.self) { try StateStore.open(directory: directory.path) }
            let expected = StoreError.newerSchema(
                path: directory.appendingPathComponent(StoreOptions().fileName).path, found: current.count + 1,
                supported: current.count)
            #expect(refusal == expected)
            #expect(expected.description.contains("schema version \(current.count + 1)"))
            #expect(expected.description.contains("(\(current.count))"))
        }
    }

    @Test func aFileThatIsNotAnOrchionDatabaseIsRefused() async throws {
        try await withDirectory { directory in
            let path = directory.appendingPathComponent(StoreOptions().fileName).path
            // Text, not SQLite.
            try Data(String(repeating: "not a database\n", count: 500).utf8).write(to: URL(fileURLWithPath: path))
            let text = #expect(throws: StoreError.self) { try StateStore.open(directory: directory.path) }
            guard case .notADatabase(let reported, _) = text else {
                Issue.record("expected notADatabase, got \(String(describing: text))")
                return
            }
            #expect(reported == path)
            try FileManager.default.removeItem(atPath: path)

            // Another application's SQLite database: left alone, not migrated.
            let made = try runCommand([
                "python3", "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    + "c.execute('CREATE TABLE theirs (x)'); c.commit()", path,
            ])
            #expect(made.status == 0, "\(made.stderr)")
            let foreign = #expect(throws: StoreError.self) { try StateStore.open(directory: directory.path) }
            #expect(
                foreign.map { "\($0)" }?.contains("no Orchion schema version") == true, "\(String(describing: foreign))"
            )
            try FileManager.default.removeItem(atPath: path)

            // A real store whose pages after the first are overwritten.
            let (store, _) = try StateStore.open(directory: directory.path)
            for index in 0..<50 { _ = try await store.commit([.putJob(job("j\(index)", order: UInt64(index)))]) }
            store.close()
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(bytes.count > 8192)
            for offset in 4096..<bytes.count { bytes[offset] = UInt8(truncatingIfNeeded: offset &* 131) }
            try bytes.write(to: URL(fileURLWithPath: path))
            let corrupt = #expect(throws: StoreError.self) { try StateStore.open(directory: directory.path) }
            guard case .notADatabase = corrupt else {
                Issue.record("expected notADatabase, got \(String(describing: corrupt))")
                return
            }
        }
    }

    @Test func aDirectoryPathThatIsAFileIsRefused() async throws {
        try await withDirectory { directory in
            let file = directory.appendingPathComponent("plain")
            try Data("x".utf8).write(to: file)
            #expect(throws: StoreError.directory(path: file.path, problem: "exists and is not a directory")) {
                try StateStore.open(directory: file.path)
            }
            let below = file.appendingPathComponent("state").path
            let error = #expect(throws: StoreError.self) { try StateStore.open(directory: below) }
            #expect(error.map { "\($0)" }?.contains("state directory \(below)") == true)
        }
    }

    /// As root, permission bits do not stop writes: the refusal is then
    /// checked in a child process that has become user nobody.
    @Test func aDirectoryThatIsNotWritableIsRefused() async throws {
        try await withDirectory { directory in
            let locked = directory.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
            if geteuid() == 0 {
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path)
                let result = try runCommand([Self.benchBinary, "store-child", "open", locked.path], timeout: 60)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(
                    result.stdout.hasPrefix("refused state directory \(locked.path): is not writable by this user"),
                    "\(result.stdout)")
            } else {
                try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: locked.path)
                defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: locked.path) }
                let error = #expect(throws: StoreError.self) { try StateStore.open(directory: locked.path) }
                #expect(error.map { "\($0)" }?.hasPrefix("state directory \(locked.path): is not writable") == true)
            }
        }
    }

    @Test func concurrentBatchesShareTransactionsAndEachCompletesOnce() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            let threads = 8
            let perThread = 250
            let total = threads * perThread
            let completions = Mutex([Int](repeating: 0, count: total))
            let grouped = Atomic<Int>(0)
            let failures = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                for index in 0..<perThread {
                    let number = thread * perThread + index
                    store.commit([.putJob(self.job("j\(number)", order: UInt64(number), size: 1024))]) { result in
                        switch result {
                        case .success(let report): if report.batches > 1 { grouped.add(1, ordering: .relaxed) }
                        case .failure: failures.add(1, ordering: .relaxed)
                        }
                        completions.withLock { $0[number] += 1 }
                    }
                }
            }
            let finished = try await eventually { completions.withLock { $0.allSatisfy { $0 >= 1 } } }
            #expect(finished, "every completion called within the bound")
            store.close()
            #expect(completions.withLock { $0.allSatisfy { $0 == 1 } }, "each completion called exactly once")
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(store.transactionCount < total / 2, "\(store.transactionCount) transactions for \(total) batches")
            #expect(grouped.load(ordering: .relaxed) > 0)
            let (reopened, state) = try StateStore.open(directory: directory.path)
            reopened.close()
            #expect(state.jobs.count == total)
        }
    }

    @Test func theWALIsCopiedIntoTheFileInTheBackgroundWhileTheStoreIsOpen() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            defer { store.close() }
            // About 3,000 pages of WAL, past the 1,000-page threshold.
            for start in stride(from: 0, to: 6_000, by: 500) {
                _ = try await store.commit(
                    (start..<start + 500).map { .putJob(job("j\($0)", order: UInt64($0), size: 1800)) })
            }
            #expect(try await eventually { store.checkpointCount >= 1 }, "a checkpoint ran to the end")
            let size = try #require(try FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int)
            #expect(size > 4 << 20, "the database file holds the jobs (\(size) bytes) before close")
        }
    }

    @Test func aSecondStoreOnTheSameFileIsRefusedUntilTheFirstCloses() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            let path = directory.appendingPathComponent(StoreOptions().fileName).path
            #expect(throws: StoreError.inUse(path: path, lock: path + ".lock")) {
                try StateStore.open(directory: directory.path)
            }
            #expect(try mode(path + ".lock") == 0o600)
            store.close()
            let (again, _) = try StateStore.open(directory: directory.path)
            again.close()
        }
    }

    @Test func aCommitAfterCloseFailsAtOnce() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            store.close()
            await #expect(throws: StoreError.closed) { try await store.commit([.setMeta("k", "v")]) }
        }
    }

    @Test func closeCalledFromACompletionReturnsRefusesLaterCommitsAndReleasesTheFile() async throws {
        try await withDirectory { directory in
            let (store, _) = try StateStore.open(directory: directory.path)
            let closed = Atomic<Bool>(false)
            store.commit([.putJob(job("a", order: 1))]) { _ in
                store.close()
                closed.store(true, ordering: .releasing)
            }
            #expect(try await eventually { closed.load(ordering: .acquiring) })
            await #expect(throws: StoreError.closed) { try await store.commit([.setMeta("k", "v")]) }
            let reopened = try await eventually {
                guard let (again, state) = try? StateStore.open(directory: directory.path) else { return false }
                again.close()
                return state.jobs.map(\.id) == ["a"]
            }
            #expect(reopened)
        }
    }

    /// A real write failure: the child lowers its file-size limit so the WAL
    /// write of a 32 MiB record fails (EFBIG), queues it between 200 small
    /// batches, then lifts the limit and commits again.
    @Test func aFailedTransactionFailsItsBatchesAndLaterBatchesCommit() async throws {
        try await withDirectory { directory in
            let result = try runCommand([Self.benchBinary, "store-child", "fault", directory.path], timeout: 120)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 5, "\(lines)")
            guard lines.count == 5 else { return }
            #expect(lines[0].hasPrefix("before success"))
            // Every failed batch failed with the transaction's I/O error, nothing else.
            let failure = try #require(lines[1].split(separator: " ", maxSplits: 2).map(String.init).last)
            #expect(lines[1].hasPrefix("failed "), "\(lines[1])")
            #expect(failure.contains("disk I/O error") || failure.contains("full"), "\(failure)")
            #expect(!failure.contains(" | "), "one error for every failed batch: \(failure)")
            #expect(lines[2] == "big \(failure)")
            #expect(lines[3].hasPrefix("after success"))
            // What was acknowledged is what the file holds: the failed batches left nothing.
            #expect(lines[4] == "stored equals acknowledged: true")
            print("fault: \(lines[1])")
        }
    }

    /// A child commits jobs and prints each acknowledged id; it is killed
    /// with SIGKILL mid-stream and every acknowledged job must be in the file.
    @Test func everyAcknowledgedJobSurvivesKill9() async throws {
        try await withDirectory { directory in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.benchBinary)
            process.arguments = ["store-child", "writer", directory.path]
            let output = Pipe()
            process.standardOutput = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let pid = process.processIdentifier
            defer { if process.isRunning { kill(pid, SIGKILL) } }
            // Bounds the blocking reads below: the child is killed after 60 s whatever happens.
            let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
            defer { watchdog.cancel() }
            let reader = output.fileHandleForReading
            var text = ""
            var acknowledged = 0
            while acknowledged < 500 {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
                acknowledged = text.split(separator: "\n").filter { $0.hasPrefix("ack ") }.count
            }
            kill(pid, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
            text += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
            // Only whole lines count (each is one write, but be strict).
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            let acked = Set(lines.filter { $0.hasPrefix("ack ") }.map { String($0.dropFirst(4)) })
            #expect(acked.count >= 500, "the child acknowledged \(acked.count) jobs before the bound")
            #expect(!lines.contains { $0.hasPrefix("fail ") })
            let (store, state) = try StateStore.open(directory: directory.path)
            store.close()
            let stored = Set(state.jobs.map(\.id))
            #expect(acked.subtracting(stored).isEmpty, "acknowledged but lost: \(acked.subtracting(stored).sorted())")
            print("kill -9: \(acked.count) acknowledged, \(stored.count) stored")
        }
    }
}
