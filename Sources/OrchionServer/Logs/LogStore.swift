import Foundation
import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire
import SwiftProtobuf

/// Job output on the server's disk: one plain file per attempt,
/// `<directory>/<job-id>/<attempt>.log`, holding the attempt's stdout and
/// stderr interleaved in arrival order (an operator can `cat` it), and a
/// sidecar index `<attempt>.idx` of 32-byte records (see `LogRecord`) that
/// says which stream each byte came from, at which offset of that stream,
/// and when.
///
/// Appends are idempotent: per stream the store keeps the end of the
/// highest offset received (derived from the index after a restart), skips
/// a redelivered chunk and trims one that overlaps; a chunk past it (a gap)
/// is accepted and its record flagged. Each attempt is capped
/// (`LogLimits.maxBytesPerAttempt`); past it output is dropped and counted,
/// and one marker line is written. Reads (`read`) serve any number of
/// readers, from the file in bounded pieces and then live, with
/// backpressure (see `LogReader`). A timer sweeps finished jobs' logs by
/// age and total size.
///
/// The disk is never touched on the loop thread: appends go through
/// `File` (uv_fs, in order per file, batched: while one write of an
/// attempt is in flight the next chunks gather into one write), and scans,
/// reads and removals run on libuv's thread pool; scans and removals one
/// at a time, in order, so a removal never races the scan that reopens a
/// job. Nothing is fsynced per chunk (output is not acknowledged to
/// anyone); a finished attempt's files are synced before they close. After
/// a crash a torn tail (data without its record, or the reverse) is cut off
/// on the next write.
///
/// Threading: loop thread only, checked at every public entry point.
/// `@unchecked Sendable` is backed by that check (as for `File`); the
/// closures it gives `LogReader` hop to the loop before touching it.
public final class LogStore: @unchecked Sendable {
    /// The loop whose thread uses the store.
    public let loop: EventLoop
    /// The logs' root directory.
    public let directory: String
    public let limits: LogLimits
    // Internal (not private) for the Reading and Retention extensions; loop thread only.
    let isFinished: (String) -> Bool
    let metrics: ServerMetrics?
    let onError: (LogError) -> Void

    var attempts: [AttemptKey: AttemptLog] = [:]
    private var timer: OrchionLoop.Timer?
    private var diskQueue: [(_ done: @escaping () -> Void) -> Void] = []
    private var diskBusy = false
    var sweeping = false
    var closed = false
    private var closeCompletion: (() -> Void)?

    /// Bytes accepted and not yet written, over all attempts (for a caller
    /// that wants to pause its producers).
    public private(set) var backlogBytes = 0
    /// Producers waiting for the backlog to fall to their bound.
    private var backlogWaiters: [(bound: Int, resume: () -> Void)] = []

    /// Creates the store over `directory` (created if missing, off the
    /// loop) and starts its retention sweep timer. `isFinished` says, on
    /// the loop thread, whether a job is finished (only finished jobs' logs
    /// are ever removed). `onError` hears of disk errors (the store keeps
    /// serving). Call on the loop thread.
    public init(
        loop: EventLoop, directory: String, limits: LogLimits = LogLimits(), metrics: ServerMetrics? = nil,
        isFinished: @escaping (String) -> Bool, onError: @escaping (LogError) -> Void = { _ in }
    ) throws(LoopError) {
        loop.preconditionInLoopThread("LogStore.init")
        self.loop = loop
        self.directory = directory
        self.limits = limits
        self.metrics = metrics
        self.isFinished = isFinished
        self.onError = onError
        let timer = try OrchionLoop.Timer(loop: loop)
        self.timer = timer
        let interval = Self.milliseconds(limits.sweepInterval)
        timer.start(after: interval, repeat: interval) { [weak self] in self?.sweep() }
        let makeDirectory: @Sendable () -> Result<Void, LogError> = { LogDisk.makeDirectories(directory) }
        onDisk(makeDirectory) { [weak self] result in
            if case .failure(let error) = result { self?.onError(error) }
        }
    }

    /// Whether `id` may name a job's log directory: 1 to 128 bytes of
    /// `[A-Za-z0-9._-]`, not starting with a dot (so never `.`, `..`, a
    /// hidden name, a path or an empty name).
    public static func isSafeJobID(_ id: String) -> Bool {
        let bytes = id.utf8
        guard (1...128).contains(bytes.count), bytes.first != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2E
                || byte == 0x5F || byte == 0x2D
        }
    }

    // MARK: Appending

    /// Appends an agent's chunk to its attempt's log. Throws at once for a
    /// chunk that cannot be taken (unsafe job id, unknown stream, offset
    /// overflow, store closed). Otherwise `completion` (if any) runs on the
    /// loop thread once the chunk's bytes are written, saying what was
    /// written, skipped as a redelivery and dropped; or with the disk error.
    public func append(
        _ chunk: Orchion_V1_LogChunk, _ completion: ((Result<LogAppendResult, LogError>) -> Void)? = nil
    ) throws(LogError) {
        loop.preconditionInLoopThread("LogStore.append")
        guard Self.isSafeJobID(chunk.jobID) else { throw .invalidJobID(chunk.jobID) }
        let stream: UInt8
        switch chunk.stream {
        case .stdout: stream = 1
        case .stderr: stream = 2
        default: throw .invalidStream(jobID: chunk.jobID, attempt: chunk.attempt, found: chunk.stream.rawValue)
        }
        guard chunk.data.count <= Int(UInt32.max) else {
            throw .invalidChunk(
                jobID: chunk.jobID, attempt: chunk.attempt, reason: "expected at most 4 GiB of data in one chunk")
        }
        guard chunk.offset <= UInt64.max - UInt64(chunk.data.count) else {
            throw .invalidChunk(
                jobID: chunk.jobID, attempt: chunk.attempt,
                reason: "offset \(chunk.offset) plus \(chunk.data.count) bytes does not fit in 64 bits")
        }
        guard !closed else { throw .closed }
        let time = chunk.hasAt ? Self.nanoseconds(chunk.at) : Self.now()
        let data = [UInt8](chunk.data)
        let offset = chunk.offset
        let entry = attempt(AttemptKey(jobID: chunk.jobID, attempt: chunk.attempt))
        whenReady(entry) { [self] in
            accept(entry, stream: stream, offset: offset, data: data, time: time, completion)
        }
    }

    /// Marks the attempt finished: its readers end once they have read
    /// everything, its files are synced and closed, and later output for it
    /// is dropped. Records the end in the index, so readers after a restart
    /// know it too. Call it for every attempt that ends, with output or not.
    public func finish(jobID: String, attempt: UInt32) throws(LogError) {
        loop.preconditionInLoopThread("LogStore.finish")
        guard Self.isSafeJobID(jobID) else { throw .invalidJobID(jobID) }
        guard !closed else { throw .closed }
        let entry = self.attempt(AttemptKey(jobID: jobID, attempt: attempt))
        whenReady(entry) { [self] in
            guard !entry.finished, !closed else { return maybeEvict(entry) }
            guard entry.failed == nil else {
                // Nothing more can be written; readers still learn it is over.
                entry.finished = true
                return maybeEvict(entry)
            }
            entry.finished = true
            let end = LogRecord(
                offset: entry.size, streamOffset: entry.dropped, time: Self.now(), length: 0,
                stream: LogRecord.storeStream, flags: LogRecord.endFlag)
            entry.pending.append(LogSegment(record: end, data: []))
            entry.records += 1
            for follower in entry.followers where follower.live { pump(entry, follower) }
            flush(entry)
        }
    }

    /// What the store knows about an attempt's log (scanning its files if
    /// it is not in memory), on the loop thread.
    public func info(
        jobID: String, attempt: UInt32, _ completion: @escaping (Result<LogAttemptInfo, LogError>) -> Void
    ) throws(LogError) {
        loop.preconditionInLoopThread("LogStore.info")
        guard Self.isSafeJobID(jobID) else { throw .invalidJobID(jobID) }
        guard !closed else { throw .closed }
        let entry = self.attempt(AttemptKey(jobID: jobID, attempt: attempt))
        whenReady(entry) { [self] in
            if let failed = entry.failed { completion(.failure(failed)) } else { completion(.success(entry.info)) }
            maybeEvict(entry)
        }
    }

    /// The entry for `key`, created and scanned (off the loop) if new.
    func attempt(_ key: AttemptKey) -> AttemptLog {
        if let entry = attempts[key] { return entry }
        let entry = AttemptLog(key: key, directory: directory)
        attempts[key] = entry
        let (jobDirectory, log, index) = (entry.jobDirectory, entry.logPath, entry.indexPath)
        let scan: @Sendable () -> Result<AttemptSummary, LogError> = {
            LogDisk.prepare(jobDirectory: jobDirectory, log: log, index: index, forWriting: false)
        }
        onDisk(scan) { [self] result in
            switch result {
            case .success(let summary): entry.load(summary)
            case .failure(let error):
                entry.failed = error
                onError(error)
            }
            entry.ready = true
            let deferred = entry.deferred
            entry.deferred = []
            for call in deferred { call() }
            for follower in entry.followers { pump(entry, follower) }
            maybeEvict(entry)
        }
        return entry
    }

    private func whenReady(_ entry: AttemptLog, _ call: @escaping () -> Void) {
        if entry.ready { call() } else { entry.deferred.append(call) }
    }

    /// Takes a chunk's bytes: skips what was received before, keeps what
    /// fits under the cap, pushes the new bytes to live readers, and
    /// schedules the write.
    private func accept(
        _ entry: AttemptLog, stream: UInt8, offset: UInt64, data: [UInt8], time: Int64,
        _ completion: ((Result<LogAppendResult, LogError>) -> Void)?
    ) {
        var result = LogAppendResult()
        let index = Int(stream)
        let end = offset + UInt64(data.count)
        let received = entry.highWater[index]
        guard end > received else {
            result.duplicate = UInt64(data.count)
            return complete(entry, completion, result)
        }
        let skip = received > offset ? Int(received - offset) : 0
        result.duplicate = UInt64(skip)
        result.gap = offset > received
        entry.highWater[index] = end
        let fresh = data[skip...]
        if entry.finished || entry.truncated || entry.failed != nil || closed {
            result.dropped = UInt64(fresh.count)
            drop(entry, UInt64(fresh.count))
            return complete(entry, completion, result)
        }
        let remaining = limits.maxBytesPerAttempt > entry.cost ? limits.maxBytesPerAttempt - entry.cost : 0
        let keep = Int(min(UInt64(fresh.count), remaining > UInt64(LogRecord.size) ? remaining - 32 : 0))
        let firstNew = entry.pending.count
        if keep > 0 {
            let kept = Array(fresh.prefix(keep))
            let record = LogRecord(
                offset: entry.size, streamOffset: offset + UInt64(skip), time: time, length: UInt32(keep),
                stream: stream, flags: result.gap ? LogRecord.gapFlag : 0)
            entry.pending.append(LogSegment(record: record, data: kept))
            entry.size += UInt64(keep)
            entry.cost += UInt64(keep) + UInt64(LogRecord.size)
            entry.records += 1
            entry.endsWithNewline = kept.last == 0x0A
            backlogBytes += keep
            result.written = UInt64(keep)
        }
        if keep < fresh.count {
            result.dropped = UInt64(fresh.count - keep)
            drop(entry, result.dropped)
            entry.truncated = true
            let line = Array(
                ((entry.endsWithNewline ? "" : "\n") + "[orchion: output truncated after \(entry.size) bytes]\n").utf8)
            let marker = LogRecord(
                offset: entry.size, streamOffset: 0, time: time, length: UInt32(line.count),
                stream: LogRecord.storeStream, flags: LogRecord.markerFlag)
            entry.pending.append(LogSegment(record: marker, data: line))
            entry.size += UInt64(line.count)
            entry.records += 1
            entry.endsWithNewline = true
            backlogBytes += line.count
        }
        if let completion {
            entry.pendingCallbacks.append { error in completion(error.map { .failure($0) } ?? .success(result)) }
        }
        for follower in entry.followers where follower.live && !follower.done {
            for segment in entry.pending[firstNew...] where !deliver(follower, segment) {
                follower.live = false
                follower.reader?.requestDemand()
                break
            }
        }
        flush(entry)
    }

    private func drop(_ entry: AttemptLog, _ bytes: UInt64) {
        entry.dropped &+= bytes
        metrics?.logDroppedBytes.add(bytes)
    }

    /// Completes an append that wrote nothing: after the writes before it,
    /// or on a later turn when there are none.
    private func complete(
        _ entry: AttemptLog, _ completion: ((Result<LogAppendResult, LogError>) -> Void)?, _ result: LogAppendResult
    ) {
        guard let completion else { return maybeEvict(entry) }
        if entry.writing || !entry.pending.isEmpty || entry.opening {
            entry.pendingCallbacks.append { _ in completion(.success(result)) }
        } else {
            let bound = LoopBound(completion, loop: loop)
            loop.execute { bound.wrapped(.success(result)) }
            maybeEvict(entry)
        }
    }

    // MARK: Writing

    /// Writes what is pending, one batch in flight per attempt; opens the
    /// files first if needed; closes them once a finished attempt is written.
    private func flush(_ entry: AttemptLog) {
        guard !entry.writing, !entry.opening else { return }
        if entry.pending.isEmpty {
            let callbacks = entry.pendingCallbacks
            entry.pendingCallbacks = []
            for callback in callbacks { callback(nil) }
            if entry.finished || closed, entry.files != nil { closeFiles(entry) }
            return maybeEvict(entry)
        }
        guard let files = entry.files else { return openFiles(entry) }
        let batch = entry.pending
        let callbacks = entry.pendingCallbacks
        entry.pending = []
        entry.pendingCallbacks = []
        entry.inFlight = batch
        entry.writing = true
        var logBytes: [UInt8] = []
        var indexBytes: [UInt8] = []
        indexBytes.reserveCapacity(batch.count * LogRecord.size)
        for segment in batch {
            logBytes += segment.data
            segment.record.encode(into: &indexBytes)
        }
        let logAt = Int64(clamping: entry.writtenEnd)
        let indexAt = Int64(clamping: entry.writtenRecords * UInt64(LogRecord.size))
        var remaining = 2
        var failure: LogError?
        let done: (Result<Void, FileError>) -> Void = { [self] result in
            if case .failure(let error) = result, failure == nil { failure = LogError(error) }
            remaining -= 1
            guard remaining == 0 else { return }
            written(entry, batch: batch, callbacks: callbacks, bytes: logBytes.count, error: failure)
        }
        files.log.write(logBytes, at: logAt, done)
        files.index.write(indexBytes, at: indexAt, done)
    }

    private func written(
        _ entry: AttemptLog, batch: [LogSegment], callbacks: [(LogError?) -> Void], bytes: Int, error: LogError?
    ) {
        entry.writing = false
        entry.inFlight = []
        backlogBytes -= bytes
        backlogShrank()
        entry.lastWrite = .now
        if let error {
            drop(entry, UInt64(bytes))
            for callback in callbacks { callback(error) }
            return fail(entry, error)
        }
        if let last = batch.last { entry.writtenEnd = last.record.end }
        entry.writtenRecords += UInt64(batch.count)
        if let metrics {
            for segment in batch where segment.record.stream != LogRecord.storeStream {
                metrics.logBytes(segment.record.stream == 1 ? .stdout : .stderr).add(UInt64(segment.data.count))
            }
        }
        for callback in callbacks { callback(nil) }
        for follower in entry.followers where !follower.live { pump(entry, follower) }
        flush(entry)
    }

    /// Stops the attempt's log after a disk error: what waits is dropped,
    /// appends waiting on it fail, readers end with the error. A later
    /// append reloads the attempt from its files.
    private func fail(_ entry: AttemptLog, _ error: LogError) {
        onError(error)
        entry.failed = error
        let lost = entry.pending.reduce(0) { $0 + $1.data.count }
        backlogBytes -= lost
        backlogShrank()
        drop(entry, UInt64(lost))
        entry.pending = []
        // What was accepted and not written is gone: the log ends where the file does.
        entry.size = entry.writtenEnd
        entry.records = entry.writtenRecords
        let callbacks = entry.pendingCallbacks
        entry.pendingCallbacks = []
        for callback in callbacks { callback(error) }
        for follower in entry.followers { end(entry, follower, error) }
        if entry.files != nil { closeFiles(entry) }
        maybeEvict(entry)
    }

    /// Opens both files for writing, after a scan that creates them and
    /// cuts off a torn tail. Then writes what is pending.
    private func openFiles(_ entry: AttemptLog) {
        entry.opening = true
        let (jobDirectory, log, index) = (entry.jobDirectory, entry.logPath, entry.indexPath)
        // Reopened after an idle close: the files are as this store left them.
        if entry.repaired { return openBoth(entry) }
        let create: @Sendable () -> Result<AttemptSummary, LogError> = {
            LogDisk.prepare(jobDirectory: jobDirectory, log: log, index: index, forWriting: true)
        }
        onDisk(create) { [self] result in
            if case .failure(let error) = result {
                entry.opening = false
                return fail(entry, error)
            }
            entry.repaired = true
            openBoth(entry)
        }
    }

    /// Opens the (existing) log and index for writing, then flushes.
    private func openBoth(_ entry: AttemptLog) {
        let (log, index) = (entry.logPath, entry.indexPath)
        let mode = File.Mode(flags: O_RDWR | O_NOFOLLOW)
        var opened: [Result<File, FileError>] = []
        let both: (Result<File, FileError>) -> Void = { [self] result in
            opened.append(result)
            guard opened.count == 2 else { return }
            entry.opening = false
            switch (opened[0], opened[1]) {
            case (.success(let first), .success(let second)):
                entry.files = first.path == log ? (first, second) : (second, first)
                flush(entry)
            case (.failure(let error), let other), (let other, .failure(let error)):
                if case .success(let file) = other { file.close() }
                fail(entry, LogError(error))
            }
        }
        File.open(log, mode: mode, permissions: Int32(LogDisk.filePermissions), loop: loop, both)
        File.open(index, mode: mode, permissions: Int32(LogDisk.filePermissions), loop: loop, both)
    }

    /// Syncs and closes the attempt's files (after what is queued on them).
    func closeFiles(_ entry: AttemptLog) {
        guard let files = entry.files else { return }
        entry.files = nil
        entry.closingFiles += 2
        for file in [files.log, files.index] {
            file.sync { _ in }
            file.close { [self] result in
                if case .failure(let error) = result { onError(LogError(error)) }
                entry.closingFiles -= 1
                maybeEvict(entry)
            }
        }
    }

    /// Forgets an attempt that has nothing in flight and nothing the files
    /// do not also say (finished, failed, or not truncated) and no reader.
    func maybeEvict(_ entry: AttemptLog) {
        guard entry.isQuiet, entry.followers.isEmpty, attempts[entry.key] === entry else { return }
        guard entry.finished || entry.failed != nil || !entry.truncated || closed else { return }
        attempts[entry.key] = nil
        checkClosed()
    }

    // MARK: Backpressure

    /// Runs `resume` once at most `bound` bytes wait to be written: at
    /// once when that is so already, else when writes catch up (or the
    /// store closes). A producer that waits before sending more bounds the
    /// memory the store holds when the disk is slower than the network.
    public func whenBacklog(atMost bound: Int, _ resume: @escaping () -> Void) {
        guard backlogBytes > bound, !closed else { return resume() }
        backlogWaiters.append((bound, resume))
    }

    private func backlogShrank() {
        guard !backlogWaiters.isEmpty else { return }
        let backlog = backlogBytes
        let closed = self.closed
        let ready = backlogWaiters.filter { closed || backlog <= $0.bound }
        guard !ready.isEmpty else { return }
        backlogWaiters.removeAll { closed || backlog <= $0.bound }
        for waiter in ready { waiter.resume() }
    }

    // MARK: Closing

    /// Stops the sweep timer, ends every reader with `LogError.closed`,
    /// writes what was accepted, closes every file, then calls `completion`
    /// on the loop thread. Appends after it throw `LogError.closed`.
    public func close(_ completion: @escaping () -> Void = {}) {
        loop.preconditionInLoopThread("LogStore.close")
        guard !closed else { return completion() }
        closed = true
        closeCompletion = completion
        timer?.close()
        timer = nil
        backlogShrank()
        for entry in Array(attempts.values) {
            for follower in entry.followers { end(entry, follower, LogError.closed) }
            if entry.ready { flush(entry) }
            maybeEvict(entry)
        }
        checkClosed()
    }

    private func checkClosed() {
        guard closed, attempts.isEmpty, !diskBusy, let completion = closeCompletion else { return }
        closeCompletion = nil
        completion()
    }

    // MARK: Helpers

    /// Runs `work` on the thread pool after the disk work queued before it,
    /// then `completion` on the loop thread.
    func onDisk<T: Sendable>(_ work: @escaping @Sendable () -> T, then completion: @escaping (T) -> Void) {
        diskQueue.append { [loop] done in
            loop.queueWork(work) { result in
                completion(result)
                done()
            }
        }
        if !diskBusy { nextDisk() }
    }

    private func nextDisk() {
        guard !diskQueue.isEmpty else {
            diskBusy = false
            return checkClosed()
        }
        diskBusy = true
        let work = diskQueue.removeFirst()
        work { [self] in nextDisk() }
    }

    private static func milliseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        return millis.overflow
            ? UInt64.max : max(1, UInt64(millis.partialValue) + UInt64(attoseconds / 1_000_000_000_000_000))
    }

    /// A protobuf timestamp as nanoseconds since the epoch, clamped.
    private static func nanoseconds(_ timestamp: Google_Protobuf_Timestamp) -> Int64 {
        let scaled = timestamp.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !scaled.overflow else { return timestamp.seconds < 0 ? Int64.min : Int64.max }
        let sum = scaled.partialValue.addingReportingOverflow(Int64(timestamp.nanos))
        return sum.overflow ? (timestamp.seconds < 0 ? Int64.min : Int64.max) : sum.partialValue
    }

    /// The wall clock, nanoseconds since the epoch.
    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
