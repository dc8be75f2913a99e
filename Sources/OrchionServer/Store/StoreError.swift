/// Why the durable store refused to open, or why a commit failed.
///
/// Each case names what was expected and what was found, so the message can
/// go to the operator as it is.
///
/// Threading: a value; safe anywhere.
public enum StoreError: Error, Hashable, CustomStringConvertible {
    /// The state directory is missing and cannot be created, is not a
    /// directory, or cannot be written.
    case directory(path: String, problem: String)
    /// The state file cannot be created or opened, or is not a regular file.
    case file(path: String, problem: String)
    /// Another store (another server, or this one) has the file open: it
    /// holds the lock on `lock`.
    case inUse(path: String, lock: String)
    /// The file is not an SQLite database, or its pages are corrupt.
    case notADatabase(path: String, detail: String)
    /// The file was written by a newer Orchion: its schema version `found` is
    /// above the newest this build knows, `supported`.
    case newerSchema(path: String, found: Int, supported: Int)
    /// A job's request id already belongs to another job (`existingJobID`).
    case duplicateRequestID(requestID: String, jobID: String, existingJobID: String)
    /// SQLite failed: what was being done, SQLite's extended result code and
    /// its message (e.g. a full disk, an I/O error, a lock held too long).
    case sqlite(operation: String, code: Int32, message: String)
    /// A commit after `close()`.
    case closed

    public var description: String {
        switch self {
        case .directory(let path, let problem):
            return "state directory \(path): \(problem)"
        case .file(let path, let problem):
            return "state file \(path): \(problem)"
        case .inUse(let path, let lock):
            return "state file \(path) is in use by another orchion server (it holds \(lock)); "
                + "one server per state directory"
        case .notADatabase(let path, let detail):
            return "state file \(path) is not a readable SQLite database (\(detail)); "
                + "move it away to start with an empty store"
        case .newerSchema(let path, let found, let supported):
            return "state file \(path) has schema version \(found), newer than the newest this orchion "
                + "knows (\(supported)); run a newer orchion or move the file away"
        case .duplicateRequestID(let requestID, let jobID, let existingJobID):
            return "job \(jobID): request id '\(requestID)' already belongs to job \(existingJobID)"
        case .sqlite(let operation, let code, let message):
            return "state store: \(operation) failed: \(message) (SQLite code \(code))"
        case .closed:
            return "state store: commit after close"
        }
    }
}
