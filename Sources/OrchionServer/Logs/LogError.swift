import Glibc
import OrchionCore
import OrchionLoop

/// Why the log store refused something or could not do it.
public enum LogError: Error, Hashable, CustomStringConvertible {
    /// A job id that is not a safe file name (see `LogStore.isSafeJobID`).
    case invalidJobID(String)
    /// A chunk whose stream is neither stdout nor stderr.
    case invalidStream(jobID: String, attempt: UInt32, found: Int)
    /// A chunk whose offset plus length does not fit in 64 bits, or whose
    /// data is larger than one index record can describe.
    case invalidChunk(jobID: String, attempt: UInt32, reason: String)
    /// A disk operation failed: what, on which path, and `errno`.
    case disk(operation: String, path: String, errno: Int32)
    /// The store was closed.
    case closed

    /// `error` (libuv's negative errno) as a disk error.
    init(_ error: FileError) {
        self = .disk(operation: error.operation, path: error.path, errno: -error.code)
    }

    public var description: String {
        switch self {
        case .invalidJobID(let id):
            "invalid job id for a log: expected 1 to 128 of [A-Za-z0-9._-], not starting with '.', "
                + "found \(jsonQuoted(String(id.unicodeScalars.prefix(200))))"
        case .invalidStream(let job, let attempt, let found):
            "log chunk of job \(job) attempt \(attempt): expected stream stdout (1) or stderr (2), found \(found)"
        case .invalidChunk(let job, let attempt, let reason):
            "log chunk of job \(job) attempt \(attempt): \(reason)"
        case .disk(let operation, let path, let code):
            "\(operation) \(path): \(String(cString: strerror(code)))"
        case .closed:
            "the log store is closed"
        }
    }
}
