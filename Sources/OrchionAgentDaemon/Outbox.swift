import OrchionLoop
import OrchionProto

/// Everything the agent has to tell the server, in order: job events and
/// log chunks, each kept until it counts as delivered.
///
/// **Delivery rule.** The protocol has no acknowledgement, so a message
/// counts as delivered when `writer.send` has returned for it and the
/// stream it went on was still open `confirmMillis` later (at least one
/// heartbeat's worth of the server reading the stream). When the stream
/// ends first, every message sent on it and not yet confirmed is sent again
/// on the next stream, in its place: the server keeps one end per attempt
/// and log bytes by offset, so a duplicate changes nothing. An end event is
/// in the journal (fsynced) before it is queued, and is marked delivered
/// there once confirmed, so a crash resends it instead of losing it. So:
/// every end reaches the server, in order after the attempt's output, and
/// counts once.
///
/// **Memory.** While connected, output waits in memory; the runner of a job
/// is paused (`JobRunner.resumeOutput` later) while more than
/// `memoryHighBytes` wait to be sent, and resumed under `memoryLowBytes`.
/// Sent output not yet confirmed is kept for resending up to
/// `unconfirmedLimitBytes`; beyond that the oldest counts as delivered
/// early (the HTTP/2 windows and socket buffers between the agent and the
/// server hold less than that, so the server has read it).
/// While disconnected, output goes to the journal (the spool) and leaves
/// memory once written; the spool holds at most `spoolLimitBytes` of output,
/// then the jobs' output pauses until delivery frees space.
///
/// Threading: loop thread only.
final class Outbox {
    /// One message to send.
    final class Entry {
        let id: UInt64
        let key: AttemptKey?
        /// Nil while it is in the journal only (read back when sent).
        var message: Orchion_V1_AgentMessage?
        /// Its journal record, marked delivered once confirmed.
        var sequence: UInt64?
        /// False while its journal write is in flight.
        var ready: Bool
        /// Output bytes it carries.
        let outputBytes: Int
        let isEnd: Bool
        /// The stream it was last sent on, and when (loop milliseconds).
        var sentOn: Int?
        var sentAt: UInt64?

        init(
            id: UInt64, key: AttemptKey?, message: Orchion_V1_AgentMessage?, sequence: UInt64?, ready: Bool,
            outputBytes: Int, isEnd: Bool
        ) {
            self.id = id
            self.key = key
            self.message = message
            self.sequence = sequence
            self.ready = ready
            self.outputBytes = outputBytes
            self.isEnd = isEnd
        }
    }

    /// What the sender gets: the message, or the journal record to read it from.
    struct Outgoing: Sendable {
        let id: UInt64
        let message: Orchion_V1_AgentMessage?
        let sequence: UInt64?
    }

    var memoryHighBytes = 1 << 20
    var memoryLowBytes = 256 << 10
    var unconfirmedLimitBytes = 16 << 20
    /// What `unconfirmedLimitBytes` drops down to once passed.
    var unconfirmedDropToBytes = 12 << 20
    var spoolLimitBytes: UInt64
    var confirmMillis: UInt64
    /// Called with journal sequences once they count as delivered.
    var onDelivered: ([UInt64]) -> Void = { _ in }
    /// Called when paused output may flow again.
    var onResume: () -> Void = {}
    /// Wakes the current stream's sender.
    var wake: (() -> Void)?

    private var queue: [Entry] = []
    private var head = 0
    private var inFlight: [Entry] = []
    private var nextID: UInt64 = 1
    /// Output bytes held in memory, queued or unconfirmed.
    private(set) var queuedMemoryBytes = 0
    private(set) var unconfirmedMemoryBytes = 0
    /// Output bytes in the journal and not delivered.
    private(set) var spooledBytes: UInt64 = 0
    /// Output bytes being written to the journal.
    private(set) var writingBytes = 0
    /// The stream messages are sent on now, when one is open.
    private(set) var stream: Int?
    private(set) var paused = false

    init(spoolLimitBytes: UInt64, confirmMillis: UInt64) {
        self.spoolLimitBytes = spoolLimitBytes
        self.confirmMillis = confirmMillis
    }

    /// Messages waiting or unconfirmed.
    var count: Int { queue.count - head + inFlight.count }

    /// Whether sent messages wait for confirmation.
    var hasUnconfirmed: Bool { inFlight.contains { $0.sentAt != nil } }

    /// Whether everything queued so far was delivered.
    var isEmpty: Bool { count == 0 }

    // MARK: Adding

    /// Queues a message that is not journaled (SCHEDULED, RUNNING, acks).
    func add(_ message: Orchion_V1_AgentMessage, key: AttemptKey?) {
        append(Entry(id: take(), key: key, message: message, sequence: nil, ready: true, outputBytes: 0, isEnd: false))
    }

    /// Queues a message whose journal write is under way; `written` marks it ready.
    func addPending(_ message: Orchion_V1_AgentMessage, key: AttemptKey, outputBytes: Int, isEnd: Bool) -> Entry {
        let entry = Entry(
            id: take(), key: key, message: message, sequence: nil, ready: false, outputBytes: outputBytes, isEnd: isEnd)
        if outputBytes > 0 { writingBytes += outputBytes }
        append(entry)
        return entry
    }

    /// Queues a record already in the journal (after a restart).
    func addJournaled(sequence: UInt64, key: AttemptKey, outputBytes: UInt64, isEnd: Bool) {
        spooledBytes += outputBytes
        append(
            Entry(
                id: take(), key: key, message: nil, sequence: sequence, ready: true,
                outputBytes: Int(clamping: outputBytes), isEnd: isEnd))
    }

    /// Queues output kept in memory.
    func addOutput(_ message: Orchion_V1_AgentMessage, key: AttemptKey, bytes: Int) {
        queuedMemoryBytes += bytes
        append(
            Entry(id: take(), key: key, message: message, sequence: nil, ready: true, outputBytes: bytes, isEnd: false))
    }

    /// A pending entry's journal write finished: with its sequence (the
    /// message may leave memory if it is output), or failed (it stays in
    /// memory and is sent from there).
    func written(_ entry: Entry, sequence: UInt64?) {
        entry.ready = true
        if entry.outputBytes > 0 {
            writingBytes -= entry.outputBytes
            if let sequence {
                entry.sequence = sequence
                entry.message = nil
                spooledBytes += UInt64(entry.outputBytes)
            } else {
                queuedMemoryBytes += entry.outputBytes
            }
        } else {
            entry.sequence = sequence
        }
        wake?()
        maybeResume()
    }

    /// Whether a job's output should pause now.
    var shouldPause: Bool {
        if stream != nil { return queuedMemoryBytes > memoryHighBytes || writingBytes > memoryHighBytes }
        return writingBytes > memoryHighBytes || spooledBytes >= spoolLimitBytes
    }

    /// A runner was told to pause.
    func notePaused() { paused = true }

    private func maybeResume() {
        guard paused, queuedMemoryBytes < memoryLowBytes, writingBytes < memoryLowBytes,
            stream != nil || spooledBytes < spoolLimitBytes
        else { return }
        paused = false
        onResume()
    }

    private func take() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    private func append(_ entry: Entry) {
        queue.append(entry)
        wake?()
    }

    // MARK: Sending

    /// Up to `maxBytes` of ready messages from the head, in order, moved to
    /// the unconfirmed list (not yet marked sent). Stops at an entry whose
    /// journal write is still under way.
    func takeBatch(maxBytes: Int = 256 << 10, maxCount: Int = 256) -> [Outgoing] {
        guard stream != nil else { return [] }
        var batch: [Outgoing] = []
        var bytes = 0
        while head < queue.count, batch.count < maxCount, bytes < maxBytes {
            let entry = queue[head]
            guard entry.ready else { break }
            head += 1
            if entry.message != nil, entry.outputBytes > 0 {
                queuedMemoryBytes -= entry.outputBytes
                unconfirmedMemoryBytes += entry.outputBytes
            }
            entry.sentOn = nil
            entry.sentAt = nil
            inFlight.append(entry)
            batch.append(Outgoing(id: entry.id, message: entry.message, sequence: entry.sequence))
            bytes += max(entry.outputBytes, 64)
        }
        if head > 1024, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        dropOverLimit()
        maybeResume()
        return batch
    }

    /// The sender's `send` returned for these messages on `stream`.
    ///
    /// `inFlight` is in id order (ids grow as entries are queued, and every
    /// list keeps its order), so each id is found by binary search: a
    /// batch costs O(batch × log in-flight), not a pass over everything
    /// sent in the last `confirmMillis`.
    func sent(_ ids: [UInt64], on stream: Int, at now: UInt64) {
        for id in ids {
            guard let index = inFlightIndex(of: id) else { continue }
            inFlight[index].sentOn = stream
            inFlight[index].sentAt = now
        }
    }

    private func inFlightIndex(of id: UInt64) -> Int? {
        var low = 0
        var high = inFlight.count
        while low < high {
            let middle = low + (high - low) / 2
            if inFlight[middle].id < id { low = middle + 1 } else { high = middle }
        }
        if low < inFlight.count, inFlight[low].id == id { return low }
        return inFlight.firstIndex { $0.id == id }  // never expected: the order is kept everywhere
    }

    /// Confirms what was sent on the open stream at least `confirmMillis` ago.
    func confirm(now: UInt64) {
        guard let stream else { return }
        var delivered: [UInt64] = []
        var keep: [Entry] = []
        keep.reserveCapacity(inFlight.count)
        for entry in inFlight {
            if entry.sentOn == stream, let at = entry.sentAt, now >= at &+ confirmMillis {
                finish(entry, &delivered)
            } else {
                keep.append(entry)
            }
        }
        inFlight = keep
        if !delivered.isEmpty { onDelivered(delivered) }
        maybeResume()
    }

    /// Past `unconfirmedLimitBytes` of unconfirmed output in memory, the
    /// oldest sent output counts as delivered (see the type's notes), down
    /// to `unconfirmedDropToBytes` at once, so a steady flood pays for the
    /// pass over `inFlight` once per few MiB, not once per batch.
    private func dropOverLimit() {
        guard unconfirmedMemoryBytes > unconfirmedLimitBytes, let stream else { return }
        var delivered: [UInt64] = []
        var dropped = Set<UInt64>()
        for entry in inFlight {
            guard unconfirmedMemoryBytes > unconfirmedDropToBytes else { break }
            if !entry.isEnd, entry.sequence == nil, entry.message != nil, entry.outputBytes > 0,
                entry.sentOn == stream
            {
                finish(entry, &delivered)
                dropped.insert(entry.id)
            }
        }
        inFlight.removeAll { dropped.contains($0.id) }
        if !delivered.isEmpty { onDelivered(delivered) }
    }

    private func finish(_ entry: Entry, _ delivered: inout [UInt64]) {
        if let sequence = entry.sequence {
            delivered.append(sequence)
            if entry.message == nil { spooledBytes -= min(spooledBytes, UInt64(entry.outputBytes)) }
        }
        if entry.message != nil, entry.outputBytes > 0 { unconfirmedMemoryBytes -= entry.outputBytes }
    }

    // MARK: Streams

    /// A stream is open (registered) and may carry messages.
    func opened(_ serial: Int, wake: @escaping () -> Void) {
        stream = serial
        self.wake = wake
        wake()
    }

    /// The stream ended: what it carried unconfirmed goes back to the front,
    /// in order. Returns the output entries now held in memory, which the
    /// daemon moves to the journal (the spool) while disconnected.
    func closed(_ serial: Int) -> [Entry] {
        guard stream == serial else { return [] }
        stream = nil
        wake = nil
        for entry in inFlight where entry.message != nil && entry.outputBytes > 0 {
            unconfirmedMemoryBytes -= entry.outputBytes
            queuedMemoryBytes += entry.outputBytes
        }
        let waiting = Array(queue[head...])
        queue = inFlight + waiting
        head = 0
        inFlight = []
        return queue.filter { $0.ready && $0.message != nil && $0.sequence == nil && $0.outputBytes > 0 }
    }

    /// An in-memory output entry is being moved to the journal.
    func spooling(_ entry: Entry) {
        guard entry.ready, entry.message != nil, entry.sequence == nil else { return }
        entry.ready = false
        queuedMemoryBytes -= entry.outputBytes
        writingBytes += entry.outputBytes
    }
}
