#if canImport(Glibc)
    import Glibc
#endif

/// The server's files that must survive a crash whole: directories made
/// with their missing parents, and files replaced atomically (a temporary
/// file beside the target, written, synced, renamed or linked into place,
/// the directory synced). One place for the store, the logs, the token
/// files and the TLS files.
///
/// Threading: blocking file I/O: call off the event loop.
enum DurableFiles {
    /// What failed: the path and the system's reason.
    struct Failure: Error, Sendable {
        let path: String
        let errno: Int32
        let action: String

        init(_ path: String, _ action: String, _ code: Int32 = Glibc.errno) {
            self.path = path
            self.action = action
            self.errno = code
        }

        /// "cannot ACTION: REASON".
        var reason: String { "cannot \(action): \(String(cString: strerror(errno)))" }
    }

    /// Creates `path` and whatever is missing above it, each with `mode`.
    static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(Failure) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0 && errno != EEXIST { throw Failure(prefix, "create the directory \(prefix)") }
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(path, "create the directory \(path)", ENOTDIR)
        }
    }

    /// A new file beside `path` holding `bytes` with `mode`, synced to disk;
    /// its path. The caller renames or links it into place.
    static func writeTemporary(beside path: String, _ bytes: [UInt8], mode: mode_t) throws(Failure) -> String {
        let directory = parent(of: path)
        let name = path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...]
        var template = Array("\(directory)/.\(name).XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkstemp($0) } ?? -1 }
        guard descriptor >= 0 else { throw Failure(path, "create a temporary file in \(directory)") }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var written = fchmod(descriptor, mode) == 0
        var offset = 0
        while written && offset < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.write(descriptor, $0.baseAddress.map { $0 + offset }, $0.count - offset)
            }
            if count < 0 && errno == EINTR { continue }
            written = count > 0
            offset += max(count, 0)
        }
        written = written && fsync(descriptor) == 0
        let code = errno
        close(descriptor)
        guard written else {
            unlink(temporary)
            throw Failure(path, "write \(temporary)", code)
        }
        return temporary
    }

    /// Replaces `path` with `bytes` (mode `mode`) atomically and durably.
    static func replace(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(Failure) {
        let temporary = try writeTemporary(beside: path, bytes, mode: mode)
        guard rename(temporary, path) == 0 else {
            let failure = Failure(path, "rename \(temporary) into place")
            unlink(temporary)
            throw failure
        }
        syncDirectory(parent(of: path))
    }

    /// Makes a rename or link in `directory` durable.
    static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    /// The directory part of `path` ("." for a bare name, "/" for a top-level one).
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
