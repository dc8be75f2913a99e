import OrchionLoop

/// Names one attempt of one job.
struct AttemptKey: Hashable, Sendable {
    var jobID: String
    var attempt: UInt32
}

/// Bytes accepted for an attempt's log and not yet written (or being
/// written): one index record and its data.
struct LogSegment {
    var record: LogRecord
    var data: [UInt8]
}

/// One reader of an attempt, as the store tracks it.
///
/// Threading: loop thread only (owned by `LogStore`).
final class LogFollower {
    let key: AttemptKey
    /// Weak: the reader's consumer owns it (and the reader's callbacks hold
    /// this follower); a reader dropped without `cancel` reads as cancelled.
    weak var reader: LogReader?
    let follow: Bool
    /// The next log offset the reader needs.
    var next: UInt64
    /// The index record holding `next`, if known (saves a search).
    var hint: UInt64?
    /// Caught up: new bytes are pushed to it as they are appended.
    var live = false
    /// A read from the file is in flight.
    var reading = false
    /// Ended or detached: nothing more goes to it.
    var done = false

    init(key: AttemptKey, reader: LogReader, from offset: UInt64, follow: Bool) {
        self.key = key
        self.reader = reader
        self.next = offset
        self.follow = follow
    }
}

/// The store's state for one attempt: what its files hold, what waits to be
/// written, its open files and its readers.
///
/// Threading: loop thread only (owned by `LogStore`).
final class AttemptLog {
    let key: AttemptKey
    let jobDirectory: String
    let logPath: String
    let indexPath: String

    /// The files have been scanned; until then `deferred` collects the
    /// calls that arrived.
    var ready = false
    var deferred: [() -> Void] = []

    /// Bytes of the log accepted (written or waiting).
    var size: UInt64 = 0
    /// Bytes of the log written (both the data and its index records).
    var writtenEnd: UInt64 = 0
    /// Index records accepted, and written.
    var records: UInt64 = 0
    var writtenRecords: UInt64 = 0
    /// Per stream (1 stdout, 2 stderr): the end of the highest offset received.
    var highWater: [UInt64] = [0, 0, 0]
    /// Output plus index bytes kept, against the cap.
    var cost: UInt64 = 0
    var dropped: UInt64 = 0
    var truncated = false
    var finished = false
    var endsWithNewline = true
    /// A write failed: the attempt takes no more output until it is reloaded.
    var failed: LogError?

    /// Waiting to be written, with the callbacks of the appends that made them.
    var pending: [LogSegment] = []
    /// Called with nil once written, or with the error that stopped it.
    var pendingCallbacks: [(LogError?) -> Void] = []
    /// Being written now.
    var inFlight: [LogSegment] = []
    var writing = false

    var files: (log: File, index: File)?
    var opening = false
    /// The files were created or repaired (torn tail cut) for writing once;
    /// a reopen after an idle close needs no scan.
    var repaired = false
    var closingFiles = 0
    var lastWrite = ContinuousClock.now

    var followers: [LogFollower] = []

    init(key: AttemptKey, directory: String) {
        self.key = key
        jobDirectory = directory + "/" + key.jobID
        logPath = jobDirectory + "/\(key.attempt).log"
        indexPath = jobDirectory + "/\(key.attempt).idx"
    }

    /// Takes what a scan of the files found.
    func load(_ summary: AttemptSummary) {
        size = summary.size
        writtenEnd = summary.size
        records = summary.records
        writtenRecords = summary.records
        highWater = summary.highWater
        cost = summary.cost
        dropped = summary.dropped
        truncated = summary.truncated
        finished = summary.finished
        endsWithNewline = summary.endsWithNewline
    }

    /// Nothing in flight or waiting: no write, open, close or deferred call.
    var isQuiet: Bool {
        ready && deferred.isEmpty && pending.isEmpty && pendingCallbacks.isEmpty && !writing && files == nil
            && !opening && closingFiles == 0
    }

    var info: LogAttemptInfo {
        LogAttemptInfo(
            size: size, dropped: dropped, truncated: truncated, finished: finished, stdoutReceived: highWater[1],
            stderrReceived: highWater[2])
    }
}
