#if canImport(Glibc)
    import Glibc
#endif

/// Reading and writing the TLS files: private keys must be owner-only (as
/// token files are, `TokenFile.refusal`); every file is replaced
/// atomically (a temporary file, fsync, rename).
///
/// Threading: blocking file I/O: call off the loop.
public enum CertificateFiles {
    /// The file's bytes, or nil when it does not exist. With `secret`, a
    /// file that is not owner-only is refused with the `chmod` fix.
    public static func read(_ path: String, secret: Bool) throws(ClusterCAError) -> [UInt8]? {
        // O_NONBLOCK: a FIFO or a device opens at once instead of hanging
        // (and is refused below as not a regular file).
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw ClusterCAError(path: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ClusterCAError(path: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ClusterCAError(path: path, "expected a regular PEM file, found a directory, FIFO or device")
        }
        if secret, let refusal = TokenFile.refusal(path, status) {
            throw ClusterCAError(path: path, "a private key file " + refusal)
        }
        guard status.st_size <= 1 << 20 else {
            throw ClusterCAError(path: path, "expected a PEM file under 1MiB, found \(status.st_size) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes {
                Glibc.read(descriptor, $0.baseAddress.map { $0 + offset }, $0.count - offset)
            }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw ClusterCAError(path: path, "cannot read: \(String(cString: strerror(errno)))")
            }
            guard count > 0 else { break }
            offset += count
        }
        return Array(bytes.prefix(offset))
    }

    /// Replaces `path` with `bytes` (mode `mode`) atomically and durably.
    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(ClusterCAError) {
        do throws(DurableFiles.Failure) {
            try DurableFiles.replace(path, bytes, mode: mode)
        } catch {
            throw ClusterCAError(path: path, error.reason)
        }
    }

    /// Takes an exclusive lock on `directory` (flock on the directory
    /// itself) and returns the descriptor that holds it; closing it
    /// releases the lock. Waits while another process (or thread) holds it:
    /// two servers starting at once on one TLS directory must not both make
    /// a CA, each replacing the other's key or certificate.
    static func lock(_ directory: String) throws(ClusterCAError) -> Int32 {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ClusterCAError(path: directory, "cannot open the directory: \(String(cString: strerror(errno)))")
        }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw ClusterCAError(path: directory, "cannot lock the directory: \(reason)")
            }
        }
        return descriptor
    }

    /// Creates `directory` (and what is missing above it), mode 0700.
    static func makeDirectory(_ directory: String) throws(ClusterCAError) {
        do throws(DurableFiles.Failure) {
            try DurableFiles.makeDirectories(directory)
        } catch {
            throw ClusterCAError(path: directory, error.reason)
        }
    }
}

/// A TLS file that cannot be used, or a certificate that cannot be made:
/// the file and what is wrong.
///
/// Threading: a value; safe anywhere.
public struct ClusterCAError: Error, Sendable, CustomStringConvertible {
    /// The file concerned.
    public let path: String
    /// What is wrong.
    public let message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
