import OrchionControl
import OrchionProto
import OrchionWire

/// The job event stream: every change numbered, the newest `retention`
/// kept for watchers that resume with `after=`, and fanned out to live
/// watchers.
///
/// A watcher that falls `watcherBuffer` events behind is ended with
/// RESOURCE_EXHAUSTED naming the sequence to resume after, instead of
/// making the server buffer without bound.
///
/// Threading: loop thread only.
final class EventLog {
    typealias Stream = AsyncThrowingStream<Orchion_V1_JobEvent, any Error>

    private struct Watcher {
        let jobID: String?
        let continuation: Stream.Continuation
    }

    /// The sequence number of the newest event (0 before any).
    private(set) var sequence: UInt64
    private let retention: Int
    private let watcherBuffer: Int
    /// Retained events, oldest first, as a ring starting at `head`.
    private var ring: [Orchion_V1_JobEvent] = []
    private var head = 0
    private var watchers: [Int: Watcher] = [:]
    private var nextWatcher = 0

    /// Starts after `retained` (the stored events, oldest first), or after
    /// `resumeAfter` when that is later (numbers handed out before a crash
    /// whose events were not stored).
    init(retained: [Orchion_V1_JobEvent], resumeAfter: UInt64 = 0, retention: Int, watcherBuffer: Int = 4096) {
        self.retention = max(retention, 1)
        self.watcherBuffer = max(watcherBuffer, 16)
        ring = Array(retained.suffix(self.retention))
        sequence = max(retained.last?.sequence ?? 0, resumeAfter)
    }

    var watcherCount: Int { watchers.count }

    /// Numbers `change`, keeps it and sends it to the watchers; returns the event.
    func append(_ change: JobChange) -> Orchion_V1_JobEvent {
        sequence += 1
        let event = change.proto(sequence: sequence)
        if ring.count < retention {
            ring.append(event)
        } else {
            ring[head] = event
            head = (head + 1) % retention
        }
        for (id, watcher) in watchers where watcher.jobID == nil || watcher.jobID == event.jobID {
            deliver(event, to: id, watcher)
        }
        return event
    }

    /// The retained events after `after` (for `jobID` only, when given), then
    /// every new one as it is appended; a one-job watch ends after the job's
    /// final event. Returns the watch's id for `remove`.
    func watch(after: UInt64, jobID: String?) -> (id: Int, stream: Stream) {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingOldest(watcherBuffer))
        let id = nextWatcher
        nextWatcher += 1
        let watcher = Watcher(jobID: jobID, continuation: continuation)
        watchers[id] = watcher
        for index in 0..<ring.count {
            let event = ring[(head + index) % ring.count]
            guard event.sequence > after, jobID == nil || event.jobID == jobID else { continue }
            deliver(event, to: id, watcher)
        }
        return (id, stream)
    }

    /// Forgets watch `id` (its consumer went away).
    func remove(_ id: Int) {
        watchers[id]?.continuation.finish()
        watchers[id] = nil
    }

    /// Ends every watch (server shutdown).
    func finishAll() {
        for watcher in watchers.values { watcher.continuation.finish() }
        watchers.removeAll()
    }

    private func deliver(_ event: Orchion_V1_JobEvent, to id: Int, _ watcher: Watcher) {
        switch watcher.continuation.yield(event) {
        case .enqueued:
            if watcher.jobID != nil, event.state.isFinal { watcher.continuation.finish() }
        case .dropped:
            watcher.continuation.finish(
                throwing: RPCError(
                    .resourceExhausted,
                    "this watcher fell \(watcherBuffer) events behind; resume with after=\(event.sequence - 1)"))
            watchers[id] = nil
        case .terminated:
            watchers[id] = nil
        @unknown default:
            watchers[id] = nil
        }
    }
}

extension Orchion_V1_JobState {
    /// Whether a job in this state changes no more.
    var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}
