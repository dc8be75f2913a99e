import OrchionCore
import OrchionLoop

/// One job's output on its way to a consumer that may be slower than the
/// job: chunks go straight through while the consumer takes them, queue in
/// memory up to `memoryLimit` bytes when it pauses, and beyond that spill,
/// in order, to a file written and read back on a `SerialWorker` (never on
/// the loop). Nothing is dropped: if even the disk cannot keep up (more
/// than `spillBacklogLimit` bytes waiting to be written) or fails, the flow
/// asks its owner to stop reading the job's pipes — the job then waits on
/// its own writes, the loop never does.
///
/// The spill costs a few system calls per batch, not per chunk: while one
/// write is with the worker, the chunks that follow gather and go in the
/// next single write; reading back takes up to `readPieceBytes` of records
/// at a time (held in memory until delivered, so the flow holds at most
/// `memoryLimit` plus one piece plus the write backlog).
///
/// The consumer returns true to take more, false to pause until `resume()`
/// (the chunk it was given is taken either way).
///
/// Threading: loop thread only.
final class OutputFlow {
    private let loop: EventLoop
    private let worker: SerialWorker
    private let spill: SpillFile
    private let consumer: (OutputChunk) -> Bool
    private let memoryLimit: Int
    private let spillBacklogLimit: Int
    /// Told true to stop reading the pipes, false to read again.
    var onInputPause: ((Bool) -> Void)?
    /// Called once, after `finish()`, when the consumer has taken everything.
    var onDrained: (() -> Void)?
    /// A line for the agent's log (a spill that failed).
    var onNote: ((String) -> Void)?

    /// The most bytes of records one read of the spill file takes.
    static let readPieceBytes = 1 << 20

    private var offsets: [OutputStream: UInt64] = [.stdout: 0, .stderr: 0]
    private var paused = false
    private var delivering = false
    /// Chunks older than anything spilled.
    private var memory = ChunkQueue()
    /// Chunks newer than everything spilled, kept in memory because the
    /// spill failed.
    private var afterSpill = ChunkQueue()
    /// Chunks to spill that wait for the write in flight (written together next).
    private var toWrite: [OutputChunk] = []
    private var writing = false
    /// Records read back from the file and not yet delivered.
    private var replayed = ChunkQueue()
    private var spilling = false
    private var spillBroken = false
    /// Records handed to the worker to write (less those that failed).
    private var submittedRecords = 0
    private var replayedRecords = 0
    private var readOffset: UInt64 = 0
    private var reading = false
    /// Bytes to spill that are not written yet (queued or being written).
    private var backlogBytes = 0
    private var inputPaused = false
    private var finished = false
    private var drained = false

    /// Bytes that went through the spill file, for the record.
    private(set) var spilledBytes: UInt64 = 0
    /// The most bytes held in memory at once.
    private(set) var peakMemoryBytes = 0

    init(
        loop: EventLoop, worker: SerialWorker, spillDirectory: String, memoryLimit: Int, spillBacklogLimit: Int,
        consumer: @escaping (OutputChunk) -> Bool
    ) {
        self.loop = loop
        self.worker = worker
        self.spill = SpillFile(directory: spillDirectory)
        self.consumer = consumer
        self.memoryLimit = memoryLimit
        self.spillBacklogLimit = spillBacklogLimit
    }

    /// Bytes per stream taken in so far.
    func bytes(of stream: OutputStream) -> UInt64 { offsets[stream] ?? 0 }

    /// Takes bytes the job wrote to `stream`.
    func append(_ stream: OutputStream, _ bytes: UnsafeRawBufferPointer) {
        guard !finished, bytes.count > 0 else { return }
        let offset = offsets[stream] ?? 0
        offsets[stream] = offset + UInt64(bytes.count)
        let chunk = OutputChunk(stream: stream, offset: offset, bytes: Array(bytes))
        if spilling {
            if spillBroken { afterSpill.push(chunk) } else { write(chunk) }
        } else if spillBroken || memory.bytes + chunk.bytes.count <= memoryLimit
            || (!paused && memory.isEmpty)
        {
            memory.push(chunk)
        } else {
            spilling = true
            write(chunk)
        }
        peakMemoryBytes = max(peakMemoryBytes, memory.bytes + afterSpill.bytes + replayed.bytes + backlogBytes)
        pump()
        updateInputPause()
    }

    /// The consumer can take more.
    func resume() {
        paused = false
        pump()
    }

    /// No more input will come; `onDrained` runs once the consumer has it all.
    func finish() {
        finished = true
        pump()
    }

    /// Queues `chunk` for the spill file: written now if no write is in
    /// flight, else with the next batch.
    private func write(_ chunk: OutputChunk) {
        backlogBytes += chunk.bytes.count
        spilledBytes += UInt64(chunk.bytes.count)
        toWrite.append(chunk)
        if !writing { submitWrites() }
    }

    private func submitWrites() {
        guard !toWrite.isEmpty else { return }
        let batch = toWrite
        toWrite = []
        writing = true
        submittedRecords += batch.count
        worker.submit(
            { [spill] in spill.append(batch) }, on: loop,
            then: { [self] result in
                writing = false
                let (written, failure) =
                    switch result {
                    case .success(let outcome): outcome
                    case .failure(let error): (0, SpillFile.Failure(description: "\(error)"))
                    }
                backlogBytes -= batch.reduce(0) { $0 + $1.bytes.count }
                if written < batch.count {
                    // Not on disk: they follow every record that is, in
                    // memory, and so does everything queued behind them.
                    submittedRecords -= batch.count - written
                    for chunk in batch[written...] { afterSpill.push(chunk) }
                    for chunk in toWrite { afterSpill.push(chunk) }
                    backlogBytes -= toWrite.reduce(0) { $0 + $1.bytes.count }
                    toWrite = []
                    if !spillBroken {
                        spillBroken = true
                        let reason = failure.map { "\($0)" } ?? "a short write"
                        onNote?("output spill failed, holding output in memory and pausing the job's pipes: \(reason)")
                    }
                }
                submitWrites()
                pump()
                updateInputPause()
            })
    }

    private func deliver(_ chunk: OutputChunk) {
        delivering = true
        paused = !consumer(chunk)
        delivering = false
    }

    private func pump() {
        guard !delivering else { return }
        defer { updateInputPause() }
        while !paused {
            if let chunk = memory.pop() {
                deliver(chunk)
                continue
            }
            if spilling {
                if let chunk = replayed.pop() {
                    deliver(chunk)
                    continue
                }
                if reading { return }
                if replayedRecords < submittedRecords {
                    readNext()
                    return
                }
                // Everything submitted is replayed; a write still in flight
                // (its records all failed) or queued comes back first.
                if writing || !toWrite.isEmpty { return }
                // Caught up with the file: back to memory, the file emptied.
                spilling = false
                submittedRecords = 0
                replayedRecords = 0
                readOffset = 0
                swap(&memory, &afterSpill)
                if !spillBroken { worker.submit({ [spill] in spill.reset() }, on: loop, then: { _ in }) }
                updateInputPause()
                continue
            }
            break
        }
        if finished && !paused && memory.isEmpty && !spilling && !drained {
            drained = true
            worker.submit({ [spill] in spill.close() }, on: loop, then: { _ in })
            onDrained?()
        }
    }

    /// Reads the next records back (after every write submitted before, in
    /// the worker's order).
    private func readNext() {
        reading = true
        let limit = submittedRecords - replayedRecords
        worker.submit(
            { [spill, readOffset] in try spill.read(at: readOffset, records: limit, maxBytes: Self.readPieceBytes) },
            on: loop,
            then: { [self] result in
                reading = false
                if case .success(let (chunks, next)) = result {
                    replayedRecords += chunks.count
                    readOffset = next
                    for chunk in chunks { replayed.push(chunk) }
                }
                // Fewer records than asked are records whose write failed:
                // that failure, ordered before this read, already took them
                // off the count.
                pump()
            })
    }

    private func updateInputPause() {
        let pause =
            backlogBytes > spillBacklogLimit
            || (spillBroken && memory.bytes + afterSpill.bytes > memoryLimit)
        guard pause != inputPaused else { return }
        inputPaused = pause
        onInputPause?(pause)
    }
}

/// A FIFO of chunks counting its bytes.
private struct ChunkQueue {
    private var chunks: [OutputChunk] = []
    private var head = 0
    private(set) var bytes = 0

    var isEmpty: Bool { head == chunks.count }

    mutating func push(_ chunk: OutputChunk) {
        chunks.append(chunk)
        bytes += chunk.bytes.count
    }

    mutating func pop() -> OutputChunk? {
        guard head < chunks.count else { return nil }
        let chunk = chunks[head]
        head += 1
        bytes -= chunk.bytes.count
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: chunks.count <= 64)
            head = 0
        } else if head >= 64 && head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
        return chunk
    }
}
