import Foundation
import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire
import SwiftProtobuf

/// Reading: `LogReader`s fed from the file, from memory, then live.
/// Threading: loop thread only, as the rest of `LogStore`.
extension LogStore {
    // MARK: Reading

    /// Reads an attempt's log from `offset` (an offset in the log file, as
    /// chunks carry it): up to the end of what was written, or with
    /// `follow`, on as output arrives until the attempt is finished. Any
    /// number of readers may read one attempt. Throws for an unsafe job id
    /// or a closed store; read errors come through the reader.
    public func read(jobID: String, attempt: UInt32, from offset: UInt64 = 0, follow: Bool) throws(LogError)
        -> LogReader
    {
        loop.preconditionInLoopThread("LogStore.read")
        guard Self.isSafeJobID(jobID) else { throw .invalidJobID(jobID) }
        guard !closed else { throw .closed }
        let entry = self.attempt(AttemptKey(jobID: jobID, attempt: attempt))
        let reader = LogReader(jobID: jobID, attempt: attempt, capacity: limits.followerBuffer)
        let follower = LogFollower(key: entry.key, reader: reader, from: offset, follow: follow)
        entry.followers.append(follower)
        metrics?.logFollowers.increment()
        let bound = LoopBound((store: self, entry: entry, follower: follower), loop: loop)
        let loop = self.loop
        reader.attach(
            onDemand: { loop.execute { bound.wrapped.store.pump(bound.wrapped.entry, bound.wrapped.follower) } },
            onCancel: { loop.execute { bound.wrapped.store.end(bound.wrapped.entry, bound.wrapped.follower, nil) } })
        if entry.ready { pump(entry, follower) }
        return reader
    }

    /// Serves a `FollowLogs` call (SSE or gRPC): reads the attempt as
    /// `read` does and sends each chunk on `stream`, whose `send` waits
    /// while the peer is slow, so a slow client holds back only its own
    /// reader. Returns when the read ends; throws what the read or the
    /// stream throws (`CancellationError` once the peer has gone). Callable
    /// from any task; the store is reached on its loop.
    public func send(
        jobID: String, attempt: UInt32, from offset: UInt64 = 0, follow: Bool,
        to stream: ResponseStream<Orchion_V1_LogChunk>
    ) async throws {
        let reader = try await loop.submit { [self] in
            try read(jobID: jobID, attempt: attempt, from: offset, follow: follow)
        }
        defer { reader.cancel() }
        for try await chunk in reader { try await stream.send(chunk) }
    }

    /// Gives a reader what it needs next, as far as its buffer has room:
    /// from the file up to what is written, then from memory, then live.
    func pump(_ entry: AttemptLog, _ follower: LogFollower) {
        guard entry.ready, !follower.done, !follower.reading else { return }
        while true {
            guard let reader = follower.reader, let room = reader.room else { return end(entry, follower, nil) }
            if follower.next >= entry.size {
                if let failed = entry.failed { return end(entry, follower, failed) }
                if entry.finished || !follower.follow || closed { return end(entry, follower, nil) }
                follower.live = true
                return
            }
            follower.live = false
            guard room > 0 else { return reader.requestDemand() }
            if follower.next < entry.writtenEnd {
                return readFile(entry, follower, room: room)
            }
            // Accepted but not yet written: from memory (the segments
            // waiting to be written cover writtenEnd..<size, in order).
            let before = follower.next
            for segments in [entry.inFlight, entry.pending] {
                for segment in segments[Self.firstSegment(ending: follower.next, in: segments)...] {
                    guard deliver(follower, segment) else { return reader.requestDemand() }
                }
            }
            // Never spin: memory must have moved the reader on.
            guard follower.next > before else {
                let stuck = LogError.disk(
                    operation: "read (nothing in memory past the file)", path: entry.logPath, errno: EIO)
                return end(entry, follower, entry.failed ?? stuck)
            }
        }
    }

    /// One bounded read from the file, off the loop; then pumps again.
    private func readFile(_ entry: AttemptLog, _ follower: LogFollower, room: Int) {
        follower.reading = true
        let (log, index) = (entry.logPath, entry.indexPath)
        let (from, written, limit, hint) = (follower.next, entry.writtenEnd, entry.writtenRecords, follower.hint)
        let maxBytes = max(1, min(room, limits.readPiece))
        let read: @Sendable () -> Result<LogReadResult, LogError> = {
            LogDisk.read(
                log: log, index: index, from: from, end: written, recordLimit: limit, hint: hint, maxBytes: maxBytes)
        }
        loop.queueWork(read) { [self] result in
            follower.reading = false
            guard !follower.done else { return }
            switch result {
            case .failure(let error):
                end(entry, follower, error)
            case .success(let read):
                for piece in read.pieces {
                    let chunk = chunk(entry.key, piece.offset, piece.stream, piece.time, piece.data)
                    guard follower.reader?.offer(chunk, fromFile: true) == true else {
                        follower.next = piece.offset
                        follower.hint = nil
                        return pump(entry, follower)
                    }
                }
                follower.next = read.nextOffset
                follower.hint = read.nextRecord
                pump(entry, follower)
            }
        }
    }

    /// Offers the part of `segment` from the reader's next offset, in
    /// pieces of at most `readPiece` bytes; false when the buffer filled
    /// before all of it went.
    func deliver(_ follower: LogFollower, _ segment: LogSegment) -> Bool {
        let record = segment.record
        guard record.end > follower.next, record.length > 0 else { return true }
        var at = max(record.offset, follower.next)
        while at < record.end {
            let stop = min(record.end, at + UInt64(max(limits.readPiece, 1)))
            let data = Array(segment.data[Int(at - record.offset)..<Int(stop - record.offset)])
            guard follower.reader?.offer(chunk(follower.key, at, record.stream, record.time, data)) == true else {
                return false
            }
            at = stop
            follower.next = stop
            follower.hint = nil
        }
        return true
    }

    /// The index of the first of `segments` (sorted, contiguous) that ends
    /// after `offset`.
    private static func firstSegment(ending offset: UInt64, in segments: [LogSegment]) -> Int {
        var low = 0
        var high = segments.count
        while low < high {
            let middle = (low + high) / 2
            if segments[middle].record.end <= offset { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Ends a reader (with `error` if any) and forgets it.
    func end(_ entry: AttemptLog, _ follower: LogFollower, _ error: (any Error)?) {
        guard !follower.done else { return }
        follower.done = true
        follower.reader?.end(error)
        entry.followers.removeAll { $0 === follower }
        metrics?.logFollowers.decrement()
        maybeEvict(entry)
    }

    private func chunk(_ key: AttemptKey, _ offset: UInt64, _ stream: UInt8, _ time: Int64, _ data: [UInt8])
        -> Orchion_V1_LogChunk
    {
        var chunk = Orchion_V1_LogChunk()
        chunk.jobID = key.jobID
        chunk.attempt = key.attempt
        chunk.stream = stream == 1 ? .stdout : stream == 2 ? .stderr : .unspecified
        chunk.offset = offset
        chunk.data = Data(data)
        var seconds = time / 1_000_000_000
        var nanos = time % 1_000_000_000
        if nanos < 0 {
            seconds -= 1
            nanos += 1_000_000_000
        }
        chunk.at = Google_Protobuf_Timestamp(seconds: seconds, nanos: Int32(nanos))
        return chunk
    }
}
