import Foundation
import OrchionLoop
import OrchionProto
import OrchionServer
import SwiftProtobuf
import Synchronization
import TestSupport

/// A LogStore over a fresh temporary directory, on its own loop thread.
/// `stop()` closes the store and the loop (failing if a handle is left
/// open); `remove()` deletes the directory.
final class LogFixture: Sendable {
    let thread: LoopThread
    let directory: URL
    let store: LogStore
    let metrics: ServerMetrics
    /// Jobs the "server" says are finished (for the retention sweep).
    let finishedJobs = FinishedJobs()

    init(directory: URL? = nil, limits: LogLimits = LogLimits()) async throws {
        let directory = try directory ?? Paths.temporaryDirectory("orchion-logs")
        self.directory = directory
        thread = try LoopThread()
        let loop = thread.loop
        let finished = finishedJobs
        let path = directory.appendingPathComponent("logs").path
        let metrics = try ServerMetrics()
        self.metrics = metrics
        store = try await loop.submit {
            try LogStore(
                loop: loop, directory: path, limits: limits, metrics: metrics, isFinished: { finished.contains($0) })
        }
    }

    var loop: EventLoop { thread.loop }
    var logs: URL { directory.appendingPathComponent("logs") }

    /// Appends and waits until the chunk is written.
    @discardableResult
    func append(
        _ job: String, attempt: UInt32 = 1, _ stream: Orchion_V1_LogStream, at offset: UInt64, _ text: String,
        seconds: Int64 = 1_700_000_000
    ) async throws -> LogAppendResult {
        try await append(chunk(job, attempt: attempt, stream, at: offset, Array(text.utf8), seconds: seconds))
    }

    func append(_ chunk: Orchion_V1_LogChunk) async throws -> LogAppendResult {
        let store = self.store
        let result: Result<LogAppendResult, LogError> = try await loop.submitAsync { finish in
            try store.append(chunk) { finish($0) }
        }
        return try result.get()
    }

    func finish(_ job: String, attempt: UInt32 = 1) async throws {
        let store = self.store
        try await loop.submit { try store.finish(jobID: job, attempt: attempt) }
    }

    func info(_ job: String, attempt: UInt32 = 1) async throws -> LogAttemptInfo {
        let store = self.store
        let result: Result<LogAttemptInfo, LogError> = try await loop.submitAsync { finish in
            try store.info(jobID: job, attempt: attempt) { finish($0) }
        }
        return try result.get()
    }

    func reader(_ job: String, attempt: UInt32 = 1, from offset: UInt64 = 0, follow: Bool) async throws -> LogReader {
        let store = self.store
        return try await loop.submit { try store.read(jobID: job, attempt: attempt, from: offset, follow: follow) }
    }

    /// Every chunk of a read that does not follow (bounded by a deadline).
    func readAll(_ job: String, attempt: UInt32 = 1, from offset: UInt64 = 0) async throws -> [Orchion_V1_LogChunk] {
        let reader = try await reader(job, attempt: attempt, from: offset, follow: false)
        return try await withDeadline(seconds: 30) {
            var chunks: [Orchion_V1_LogChunk] = []
            for try await chunk in reader { chunks.append(chunk) }
            return chunks
        }
    }

    @discardableResult
    func sweep() async throws -> LogSweepResult {
        let store = self.store
        let result: Result<LogSweepResult, LogError> = try await loop.submitAsync { finish in
            store.sweep { finish($0) }
        }
        return try result.get()
    }

    /// The attempt's log file as written.
    func file(_ job: String, attempt: UInt32 = 1) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: logs.appendingPathComponent("\(job)/\(attempt).log")))
    }

    /// Closes the store, then the loop.
    func stop() async throws {
        let store = self.store
        try await loop.submitAsync { finish in store.close { finish(()) } }
        try thread.shutdown()
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// A chunk as an agent sends it.
func chunk(
    _ job: String, attempt: UInt32 = 1, _ stream: Orchion_V1_LogStream, at offset: UInt64, _ data: [UInt8],
    seconds: Int64 = 1_700_000_000
) -> Orchion_V1_LogChunk {
    var chunk = Orchion_V1_LogChunk()
    chunk.jobID = job
    chunk.attempt = attempt
    chunk.stream = stream
    chunk.offset = offset
    chunk.data = Data(data)
    chunk.at = Google_Protobuf_Timestamp(seconds: seconds, nanos: 5)
    return chunk
}

/// The jobs a test says are finished, read by the store on its loop.
final class FinishedJobs: Sendable {
    private let jobs = Mutex<Set<String>>([])

    func set(_ jobs: Set<String>) { self.jobs.withLock { $0 = jobs } }

    func contains(_ job: String) -> Bool { jobs.withLock { $0.contains(job) } }
}

struct DeadlineExceeded: Error {}

/// Runs `body`, failing with `DeadlineExceeded` after `seconds` (a stuck
/// read fails the test instead of hanging it).
func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw DeadlineExceeded()
        }
        group.cancelAll()
        return value
    }
}

/// Polls `condition` every few milliseconds until it holds or `seconds`
/// pass; returns whether it held.
func eventually(within seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while try await !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return true
}
