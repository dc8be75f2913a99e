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

    private var offsets: [OutputStream: UInt64] = [.stdout: 0, .stderr: 0]
    private var paused = false
    private var delivering = false
    /// Chunks older than anything spilled.
    private var memory = ChunkQueue()
    /// Chunks newer than everything spilled, kept in memory because the
    /// spill failed.
    private var afterSpill = ChunkQueue()
    /// Chunks that arrived after the spill failed while older writes were
    /// still in flight: they join `afterSpill` once those writes have come
    /// back (failed, in order), so they never overtake them.
    private var held = ChunkQueue()
    private var spilling = false
    private var spillBroken = false
    private var spilledRecords = 0
    private var replayedRecords = 0
    private var readOffset: UInt64 = 0
    private var reading = false
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
            if !spillBroken {
                write(chunk)
            } else if backlogBytes > 0 {
                held.push(chunk)
            } else {
                afterSpill.push(chunk)
            }
        } else if spillBroken || memory.bytes + chunk.bytes.count <= memoryLimit
            || (!paused && memory.isEmpty)
        {
            memory.push(chunk)
        } else {
            spilling = true
            write(chunk)
        }
        peakMemoryBytes = max(peakMemoryBytes, memory.bytes + afterSpill.bytes + held.bytes + backlogBytes)
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

    private func write(_ chunk: OutputChunk) {
        spilledRecords += 1
        backlogBytes += chunk.bytes.count
        spilledBytes += UInt64(chunk.bytes.count)
        worker.submit(
            { [spill] in try spill.append(chunk) }, on: loop,
            then: { [self] result in
                backlogBytes -= chunk.bytes.count
                if case .failure(let error) = result {
                    // Not on disk: it follows every record that is, in memory.
                    spilledRecords -= 1
                    afterSpill.push(chunk)
                    if !spillBroken {
                        spillBroken = true
                        onNote?("output spill failed, holding output in memory and pausing the job's pipes: \(error)")
                    }
                }
                if backlogBytes == 0 {
                    while let later = held.pop() { afterSpill.push(later) }
                }
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
                if reading { return }
                if replayedRecords < spilledRecords {
                    readNext()
                    return
                }
                // Caught up with the file: back to memory, the file emptied.
                spilling = false
                spilledRecords = 0
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

    private func readNext() {
        reading = true
        worker.submit(
            { [spill, readOffset] in try spill.read(at: readOffset) }, on: loop,
            then: { [self] result in
                reading = false
                if case .success(let (chunk, next)) = result {
                    replayedRecords += 1
                    readOffset = next
                    deliver(chunk)
                }
                // A failed read is a record whose write failed: its failure,
                // ordered before this read, already took it off the count.
                pump()
            })
    }

    private func updateInputPause() {
        let pause =
            backlogBytes > spillBacklogLimit
            || (spillBroken && memory.bytes + afterSpill.bytes + held.bytes > memoryLimit)
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
