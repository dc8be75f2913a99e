import Glibc

/// Reading a small whole file with its metadata from one descriptor, so
/// what is checked (`fstat`) is what is read.
///
/// Threading: blocking file I/O; call off the event loop thread.
enum FileText {
    /// A file's bytes and its `stat`.
    struct Contents {
        var bytes: [UInt8]
        var status: stat
    }

    /// Why a file could not be read.
    enum Failure: Error {
        /// `open`, `fstat` or `read` failed with this errno.
        case system(operation: String, errno: Int32)
        /// Not a regular file.
        case notRegular
        /// Larger than the limit.
        case tooLarge(Int)

        /// Says what went wrong, naming `path`.
        func describe(_ path: String) -> String {
            switch self {
            case .system(let operation, let code):
                return "cannot \(operation) \(path): \(String(cString: strerror(code)))"
            case .notRegular: return "\(path) is not a regular file"
            case .tooLarge(let limit): return "\(path) is larger than \(limit) bytes"
            }
        }

        /// Whether the file does not exist.
        var isMissing: Bool {
            if case .system(_, let code) = self { return code == ENOENT }
            return false
        }
    }

    /// Opens `path` (following symlinks), checks it with `inspect` before
    /// reading, and reads it whole when at most `limit` bytes.
    static func read(
        _ path: String, limit: Int, inspect: (stat) -> String? = { _ in nil }
    ) -> Result<Contents, InspectedFailure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard descriptor >= 0 else { return .failure(.file(.system(operation: "open", errno: errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            return .failure(.file(.system(operation: "stat", errno: errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else { return .failure(.file(.notRegular)) }
        if let refusal = inspect(status) { return .failure(.refused(refusal)) }
        guard status.st_size <= limit else { return .failure(.file(.tooLarge(limit))) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(descriptor, buffer.baseAddress?.advanced(by: filled), buffer.count - filled)
            }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return .failure(.file(.system(operation: "read", errno: errno))) }
            if count == 0 { break }
            filled += count
        }
        guard filled <= limit else { return .failure(.file(.tooLarge(limit))) }
        bytes.removeSubrange(filled...)
        return .success(Contents(bytes: bytes, status: status))
    }

    /// A failure to read, or a refusal by the caller's inspection.
    enum InspectedFailure: Error {
        case file(Failure)
        case refused(String)
    }
}
