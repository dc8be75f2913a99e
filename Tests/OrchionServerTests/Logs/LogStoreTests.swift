import Foundation
import Glibc
import OrchionLoop
import OrchionProto
import OrchionServer
import TestSupport
import Testing

@Suite struct LogStoreTests {
    @Test func bothStreamsInterleaveInTheFileAndReadBackWithTheirStreamsOffsetsAndTimes() async throws {
        let fixture = try await LogFixture()
        defer { fixture.remove() }
        do {
            try await fixture.append("job-1", .stdout, at: 0, "hello\n", seconds: 1_700_000_001)
            try await fixture.append("job-1", .stderr, at: 0, "oops\n", seconds: 1_700_000_002)
            let third = try await fixture.append("job-1", .stdout, at: 6, "world\n", seconds: 1_700_000_003)
            #expect(third == LogAppendResult.with(written: 6))
            #expect(try fixture.file("job-1") == Array("hello\noops\nworld\n".utf8))

            let chunks = try await fixture.readAll("job-1")
            #expect(chunks.map(\.offset) == [0, 6, 11])
            #expect(chunks.map(\.stream) == [.stdout, .stderr, .stdout])
            #expect(chunks.map { String(decoding: $0.data, as: UTF8.self) } == ["hello\n", "oops\n", "world\n"])
            #expect(chunks.map(\.at.seconds) == [1_700_000_001, 1_700_000_002, 1_700_000_003])
            #expect(chunks.allSatisfy { $0.jobID == "job-1" && $0.attempt == 1 && $0.at.nanos == 5 })

            // From an offset inside a record: the rest of it, then the others.
            let tail = try await fixture.readAll("job-1", from: 8)
            #expect(tail.map(\.offset) == [8, 11])
            #expect(tail.map { String(decoding: $0.data, as: UTF8.self) } == ["ps\n", "world\n"])

            // Another attempt is another file.
            try await fixture.append("job-1", attempt: 2, .stderr, at: 0, "second\n")
            #expect(try fixture.file("job-1", attempt: 2) == Array("second\n".utf8))
            #expect(try await fixture.readAll("job-1", attempt: 3).isEmpty)
            #expect(fixture.metrics.logBytes(.stdout).value == 12 && fixture.metrics.logBytes(.stderr).value == 12)
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }

    @Test func aProducerWaitingForTheBacklogResumesOnlyOnceTheWritesCaughtUp() async throws {
        let fixture = try await LogFixture()
        defer { fixture.remove() }
        do {
            let store = fixture.store
            try await fixture.append("flood", .stdout, at: 0, "open\n")  // the attempt's files are open
            let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
            // Four 1 MiB chunks accepted at once; a waiter for "at most 0 bytes
            // pending" must not run before they are written.
            let (atOnce, before, after): (Bool, Int, Int) = try await fixture.loop.submitAsync { finish in
                for index in 0..<4 {
                    try store.append(chunk("flood", .stdout, at: 5 + UInt64(index << 20), piece)) { _ in }
                }
                let before = store.backlogBytes
                var resumedAtOnce = false
                store.whenBacklog(atMost: before) { resumedAtOnce = true }
                let atOnce = resumedAtOnce
                store.whenBacklog(atMost: 0) { finish((atOnce, before, store.backlogBytes)) }
            }
            #expect(atOnce)
            #expect(before == 4 << 20)
            #expect(after == 0)
            #expect(try fixture.file("flood").count == 5 + 4 << 20)
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }

    @Test func redeliveredChunksAreSkippedOrTrimmedAndTheFileStaysByteExactAcrossARestart() async throws {
        let directory = try Paths.temporaryDirectory("orchion-logs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await LogFixture(directory: directory)
        do {
            try await first.append("j", .stdout, at: 0, "abc")
            try await first.append("j", .stderr, at: 0, "XY")
            try await first.append("j", .stdout, at: 3, "def")
            // A reconnect: the agent sends everything again from an older offset.
            #expect(try await first.append("j", .stdout, at: 0, "abc") == .with(duplicate: 3))
            #expect(try await first.append("j", .stdout, at: 3, "def") == .with(duplicate: 3))
            #expect(try await first.append("j", .stderr, at: 0, "XY") == .with(duplicate: 2))
            // Overlapping: only the new tail is written.
            #expect(try await first.append("j", .stdout, at: 4, "efgh") == .with(written: 2, duplicate: 2))
            #expect(try first.file("j") == Array("abcXYdefgh".utf8))
        } catch {
            try await first.stop()
            throw error
        }
        try await first.stop()

        // A new store over the same directory knows what each stream received.
        let second = try await LogFixture(directory: directory)
        do {
            #expect(try await second.append("j", .stdout, at: 0, "abcdefgh") == .with(duplicate: 8))
            #expect(try await second.append("j", .stderr, at: 1, "YZ") == .with(written: 1, duplicate: 1))
            // A gap (bytes 9..<20 of stdout never came) is accepted and recorded.
            var gap = LogAppendResult.with(written: 1)
            gap.gap = true
            #expect(try await second.append("j", .stdout, at: 20, "!") == gap)
            #expect(try second.file("j") == Array("abcXYdefghZ!".utf8))
            let info = try await second.info("j")
            #expect(info.stdoutReceived == 21 && info.stderrReceived == 3 && info.size == 12)
            let chunks = try await second.readAll("j")
            #expect(chunks.map(\.stream) == [.stdout, .stderr, .stdout, .stdout, .stderr, .stdout])
        } catch {
            try await second.stop()
            throw error
        }
        try await second.stop()
    }

    @Test func aTornTailLeftByACrashIsCutOffBeforeTheNextAppend() async throws {
        let directory = try Paths.temporaryDirectory("orchion-logs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await LogFixture(directory: directory)
        try await first.append("torn", .stdout, at: 0, "kept\n")
        try await first.stop()
        // Data written without its record, and half a record.
        let log = try FileHandle(forWritingTo: first.logs.appendingPathComponent("torn/1.log"))
        try log.seekToEnd()
        try log.write(contentsOf: Data("lost".utf8))
        try log.close()
        let index = try FileHandle(forWritingTo: first.logs.appendingPathComponent("torn/1.idx"))
        try index.seekToEnd()
        try index.write(contentsOf: Data(repeating: 7, count: 13))
        try index.close()

        let second = try await LogFixture(directory: directory)
        do {
            #expect(try await second.readAll("torn").map { String(decoding: $0.data, as: UTF8.self) } == ["kept\n"])
            try await second.append("torn", .stdout, at: 5, "next\n")
            #expect(try second.file("torn") == Array("kept\nnext\n".utf8))
            let index = try Data(contentsOf: second.logs.appendingPathComponent("torn/1.idx"))
            #expect(index.count == 64)
        } catch {
            try await second.stop()
            throw error
        }
        try await second.stop()
    }

    @Test func pastTheCapOutputIsDroppedCountedAndOneMarkerLineIsWritten() async throws {
        // 200 bytes of budget: 100 + 32 for the first chunk, 36 + 32 for the second.
        let fixture = try await LogFixture(limits: LogLimits(maxBytesPerAttempt: 200))
        defer { fixture.remove() }
        do {
            let hundred = String(repeating: "a", count: 100)
            #expect(try await fixture.append("capped", .stdout, at: 0, hundred) == .with(written: 100))
            #expect(try await fixture.append("capped", .stderr, at: 0, hundred) == .with(written: 36, dropped: 64))
            #expect(try await fixture.append("capped", .stdout, at: 100, "more\n") == .with(dropped: 5))
            // A redelivery past the cap is still a duplicate, not more dropped bytes.
            #expect(try await fixture.append("capped", .stdout, at: 100, "more\n") == .with(duplicate: 5))
            let marker = "\n[orchion: output truncated after 136 bytes]\n"
            #expect(try fixture.file("capped") == Array((String(repeating: "a", count: 136) + marker).utf8))
            let info = try await fixture.info("capped")
            #expect(info.truncated && info.dropped == 69 && info.size == UInt64(136 + marker.utf8.count))
            #expect(fixture.metrics.logDroppedBytes.value == 69)

            let chunks = try await fixture.readAll("capped")
            #expect(chunks.map(\.stream) == [.stdout, .stderr, .unspecified])
            #expect(chunks.last.map { String(decoding: $0.data, as: UTF8.self) } == marker)
            try await fixture.finish("capped")
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()

        // The count survives a restart (the end record keeps it).
        let again = try await LogFixture(directory: fixture.directory, limits: LogLimits(maxBytesPerAttempt: 200))
        do {
            let info = try await again.info("capped")
            #expect(info.truncated && info.finished && info.dropped == 69)
        } catch {
            try await again.stop()
            throw error
        }
        try await again.stop()
    }

    @Test func hostileJobIDsAreRefusedAndNothingIsCreatedForThem() async throws {
        let fixture = try await LogFixture()
        defer { fixture.remove() }
        do {
            let store = fixture.store
            for id in [
                "", ".", "..", "../escape", "a/b", ".hidden", "x\0y", "sp ace", "é", String(repeating: "a", count: 129),
            ] {
                let appendError = try await fixture.loop.submit { () -> LogError? in
                    do throws(LogError) {
                        try store.append(chunk(id, .stdout, at: 0, Array("x".utf8)))
                        return nil
                    } catch {
                        return error
                    }
                }
                #expect(appendError == .invalidJobID(id))
                await #expect(throws: LogError.invalidJobID(id)) { try await fixture.reader(id, follow: false) }
                await #expect(throws: LogError.invalidJobID(id)) { try await fixture.finish(id) }
            }
            #expect(LogStore.isSafeJobID(String(repeating: "a", count: 128)))
            #expect(LogStore.isSafeJobID("job_1.retry-2"))
            await #expect(throws: LogError.invalidStream(jobID: "ok", attempt: 1, found: 0)) {
                try await fixture.append(chunk("ok", .unspecified, at: 0, [1]))
            }
            await #expect(throws: LogError.self) { try await fixture.append(chunk("ok", .stdout, at: UInt64.max, [1])) }
            // Only the logs directory itself exists; nothing above or beside it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.logs.path).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path) == ["logs"])
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }

    @Test func theSweepRemovesOnlyFinishedJobsOlderThanTheRetentionAge() async throws {
        let directory = try Paths.temporaryDirectory("orchion-logs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try await LogFixture(directory: directory)
        for job in ["old-done", "new-done", "old-running"] {
            try await writer.append(job, .stdout, at: 0, "output of \(job)\n")
            if job.hasSuffix("done") { try await writer.finish(job) }
        }
        try await writer.stop()
        try age(writer.logs.appendingPathComponent("old-done"), bySeconds: 7200)
        try age(writer.logs.appendingPathComponent("old-running"), bySeconds: 7200)

        let sweeper = try await LogFixture(
            directory: directory, limits: LogLimits(retentionAge: .seconds(3600), retentionBytes: 1 << 30))
        do {
            sweeper.finishedJobs.set(["old-done", "new-done"])
            let result = try await sweeper.sweep()
            #expect(result.removedForAge == ["old-done"])
            #expect(result.removedForSize.isEmpty)
            let left = try FileManager.default.contentsOfDirectory(atPath: sweeper.logs.path).sorted()
            #expect(left == ["new-done", "old-running"])
            // Logs stay readable with no node and no writer behind them.
            let chunks = try await sweeper.readAll("new-done")
            #expect(chunks.map { String(decoding: $0.data, as: UTF8.self) } == ["output of new-done\n"])
        } catch {
            try await sweeper.stop()
            throw error
        }
        try await sweeper.stop()
    }

    @Test func overTheTotalSizeTheLeastRecentlyWrittenFinishedJobsGoFirst() async throws {
        let directory = try Paths.temporaryDirectory("orchion-logs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try await LogFixture(directory: directory)
        let kilobyte = String(repeating: "x", count: 1000)
        for job in ["oldest", "middle", "newest", "running"] {
            try await writer.append(job, .stdout, at: 0, kilobyte)
            if job != "running" { try await writer.finish(job) }
        }
        try await writer.stop()
        try age(writer.logs.appendingPathComponent("oldest"), bySeconds: 300)
        try age(writer.logs.appendingPathComponent("middle"), bySeconds: 200)
        try age(writer.logs.appendingPathComponent("newest"), bySeconds: 100)
        try age(writer.logs.appendingPathComponent("running"), bySeconds: 400)
        // Each job holds 1000 bytes of log, 32 of data record and 32 of end record.
        let perJob: UInt64 = 1000 + 32 + (32)
        let runningBytes: UInt64 = 1000 + 32

        let sweeper = try await LogFixture(
            directory: directory, limits: LogLimits(retentionBytes: runningBytes + 2 * perJob))
        do {
            sweeper.finishedJobs.set(["oldest", "middle", "newest"])
            let result = try await sweeper.sweep()
            #expect(result.bytesBefore == runningBytes + 3 * perJob)
            #expect(result.removedForAge.isEmpty)
            #expect(result.removedForSize == ["oldest"])
            #expect(result.bytesAfter == runningBytes + 2 * perJob)
            let left = try FileManager.default.contentsOfDirectory(atPath: sweeper.logs.path).sorted()
            #expect(left == ["middle", "newest", "running"])
        } catch {
            try await sweeper.stop()
            throw error
        }
        try await sweeper.stop()
    }

    @Test func threeFollowersOneSlowGetEveryByteInOrderWhileTenMegabytesAreAppended() async throws {
        let fixture = try await LogFixture()
        defer { fixture.remove() }
        let chunkSize = 16 << 10
        let chunks = (10 << 20) / chunkSize
        do {
            let readers = [
                try await fixture.reader("live", follow: true), try await fixture.reader("live", follow: true),
                try await fixture.reader("live", follow: true),
            ]
            let producerDone = FinishedJobs()
            let collectors = readers.enumerated().map { index, reader in
                Task {
                    try await withDeadline(seconds: 120) {
                        var received = Received()
                        var count = 0
                        for try await chunk in reader {
                            try received.add(chunk)
                            count += 1
                            guard index == 2 else { continue }
                            // The slow one stalls after 8 chunks until the producer is done,
                            // then reads on with a pause every 4 chunks.
                            if count == 8 {
                                _ = await eventually(within: 100) { producerDone.contains("live") }
                            } else if count % 4 == 0 {
                                try await Task.sleep(for: .milliseconds(1))
                            }
                        }
                        return received
                    }
                }
            }
            let producer = Producer(store: fixture.store, job: "live", chunks: chunks, size: chunkSize)
            let finished: Bool = try await fixture.loop.submitAsync { done in producer.start { done($0) } }
            #expect(finished)
            producerDone.set(["live"])
            try await fixture.finish("live")
            let expected = producer.expected
            for (index, collector) in collectors.enumerated() {
                let received = try await collector.value
                #expect(received.all.count == expected.all.count, "reader \(index)")
                #expect(received.all == expected.all, "reader \(index): the combined bytes differ")
                #expect(received.stdout == expected.stdout && received.stderr == expected.stderr, "reader \(index)")
            }
            #expect(try fixture.file("live") == expected.all)
            // Backpressure: the stalled reader continued from the file, and no
            // reader ever had more waiting than its buffer and one piece.
            #expect(readers[2].chunksFromFile > 0)
            let bound = LogLimits().followerBuffer + LogLimits().readPiece
            #expect(readers.allSatisfy { $0.peakBufferedBytes <= bound }, "\(readers.map(\.peakBufferedBytes))")
            // A reader that starts after the fact reads it all from the file.
            var late = Received()
            for chunk in try await fixture.readAll("live") { try late.add(chunk) }
            #expect(late.all == expected.all)
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }

    @Test func filesClosedWhenIdleReopenAndTheLogContinues() async throws {
        let fixture = try await LogFixture(limits: LogLimits(idleClose: .zero))
        defer { fixture.remove() }
        do {
            try await fixture.append("idle", .stdout, at: 0, "a\n")
            let result = try await fixture.sweep()
            #expect(result.removedForAge.isEmpty && result.removedForSize.isEmpty)
            try await fixture.append("idle", .stderr, at: 0, "b\n")
            try await fixture.sweep()
            try await fixture.append("idle", .stdout, at: 2, "c\n")
            #expect(try fixture.file("idle") == Array("a\nb\nc\n".utf8))
            let chunks = try await fixture.readAll("idle")
            #expect(chunks.map(\.stream) == [.stdout, .stderr, .stdout])
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }

    @Test func aCancelledFollowerIsForgottenAndTheAttemptGoesOn() async throws {
        let fixture = try await LogFixture(limits: LogLimits(followerBuffer: 64))
        defer { fixture.remove() }
        do {
            try await fixture.append("c", .stdout, at: 0, String(repeating: "z", count: 1000))
            let reader = try await fixture.reader("c", follow: true)
            let first = try await withDeadline(seconds: 10) { try await reader.next() }
            #expect(first?.offset == 0)
            reader.cancel()
            await #expect(throws: CancellationError.self) { try await reader.next() }
            try await fixture.append("c", .stdout, at: 1000, "tail\n")
            try await fixture.finish("c")
            let all = try await fixture.readAll("c")
            #expect(all.reduce(0) { $0 + $1.data.count } == 1005)
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }
}

@Suite struct LogReaderLifetimeTests {
    @Test func aReaderDroppedWithoutCancelIsForgotten() async throws {
        let fixture = try await LogFixture(limits: LogLimits(followerBuffer: 16))
        defer { fixture.remove() }
        do {
            try await fixture.append("d", .stdout, at: 0, String(repeating: "q", count: 100))
            try await readOneChunkAndDrop(fixture)
            let gauge = fixture.metrics.logFollowers
            #expect(await eventually { gauge.value == 0 }, "followers: \(gauge.value)")
        } catch {
            try await fixture.stop()
            throw error
        }
        try await fixture.stop()
    }

    @Test func closingTheStoreEndsAFollowerWithClosedAfterWhatItHad() async throws {
        let fixture = try await LogFixture()
        defer { fixture.remove() }
        try await fixture.append("z", .stdout, at: 0, "x\n")
        let reader = try await fixture.reader("z", follow: true)
        let first = try await withDeadline(seconds: 10) { try await reader.next() }
        #expect(first?.data == Data("x\n".utf8))
        try await fixture.stop()
        await #expect(throws: LogError.closed) { try await reader.next() }
    }

    private func readOneChunkAndDrop(_ fixture: LogFixture) async throws {
        let reader = try await fixture.reader("d", follow: true)
        #expect(fixture.metrics.logFollowers.value == 1)
        let first = try await withDeadline(seconds: 10) { try await reader.next() }
        #expect(first?.data.count ?? 0 > 0)
    }
}

extension LogAppendResult {
    static func with(written: UInt64 = 0, duplicate: UInt64 = 0, dropped: UInt64 = 0) -> LogAppendResult {
        var result = LogAppendResult()
        result.written = written
        result.duplicate = duplicate
        result.dropped = dropped
        return result
    }
}

/// What a reader got: the combined bytes (checked contiguous) and each stream's.
struct Received: Sendable {
    var all: [UInt8] = []
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []

    struct OutOfOrder: Error, CustomStringConvertible {
        let expected: Int
        let found: UInt64
        var description: String { "expected a chunk at offset \(expected), found one at \(found)" }
    }

    mutating func add(_ chunk: Orchion_V1_LogChunk) throws {
        guard chunk.offset == UInt64(all.count) else { throw OutOfOrder(expected: all.count, found: chunk.offset) }
        all += chunk.data
        if chunk.stream == .stdout { stdout += chunk.data }
        if chunk.stream == .stderr { stderr += chunk.data }
    }
}

/// Appends `chunks` chunks of `size` bytes (alternating stdout and stderr,
/// distinct content) on the loop, keeping at most 16 appends unwritten.
/// Threading: loop thread only (`start` and the completions).
private final class Producer: @unchecked Sendable {
    let store: LogStore
    let job: String
    let chunks: Int
    let size: Int
    private var sent = 0
    private var written = 0
    private var offsets: [UInt64] = [0, 0, 0]
    private var done: ((Bool) -> Void)?
    private(set) var expected = Received()

    init(store: LogStore, job: String, chunks: Int, size: Int) {
        self.store = store
        self.job = job
        self.chunks = chunks
        self.size = size
    }

    func start(_ done: @escaping (Bool) -> Void) {
        self.done = done
        fill()
    }

    private func fill() {
        while sent < chunks && sent - written < 16 {
            let stream: Orchion_V1_LogStream = sent % 3 == 2 ? .stderr : .stdout
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ sent &* 7) }
            let offset = offsets[stream.rawValue]
            offsets[stream.rawValue] += UInt64(size)
            expected.all += data
            if stream == .stdout { expected.stdout += data } else { expected.stderr += data }
            sent += 1
            do {
                try store.append(chunk(job, .stdout == stream ? .stdout : .stderr, at: offset, data)) { [self] result in
                    guard case .success(let outcome) = result, outcome.written == UInt64(size) else {
                        done?(false)
                        done = nil
                        return
                    }
                    written += 1
                    if written == chunks {
                        done?(true)
                        done = nil
                    } else {
                        fill()
                    }
                }
            } catch {
                done?(false)
                done = nil
                return
            }
        }
    }
}

/// Sets the modification time of `directory` and its files `seconds` back.
private func age(_ directory: URL, bySeconds seconds: Int) throws {
    let when = Date(timeIntervalSinceNow: -Double(seconds))
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        try FileManager.default.setAttributes(
            [.modificationDate: when], ofItemAtPath: directory.appendingPathComponent(name).path)
    }
    try FileManager.default.setAttributes([.modificationDate: when], ofItemAtPath: directory.path)
}
