import Glibc

/// The state directory and file on disk: created owner-only, checked
/// before SQLite sees them.
///
/// Threading: any thread (blocking file-system calls: `StateStore.open` only).
enum StoreFiles {
    /// Creates `path` (and missing parents) with mode 0700, or checks that
    /// the existing one is a directory this process can write.
    static func prepareDirectory(_ path: String) throws(StoreError) {
        guard !path.isEmpty else { throw StoreError.directory(path: path, problem: "the path is empty") }
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw StoreError.directory(path: path, problem: "exists and is not a directory")
            }
        } else if errno == ENOENT {
            try makeDirectories(path)
        } else {
            throw StoreError.directory(path: path, problem: "cannot be read: \(errorText(errno))")
        }
        _ = stat(path, &info)
        if access(path, W_OK | X_OK) != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw StoreError.directory(
                path: path, problem: "is not writable by this user (mode 0\(mode)): \(errorText(errno))")
        }
    }

    /// Creates the file with mode 0600 when missing (and makes the directory
    /// entry durable); narrows an existing one to 0600; refuses anything but
    /// a regular file.
    static func prepareFile(_ path: String, directory: String) throws(StoreError) {
        var created = true
        var descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if descriptor < 0 && errno == EEXIST {
            created = false
            descriptor = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK)
        }
        guard descriptor >= 0 else {
            throw StoreError.file(path: path, problem: "cannot be opened for writing: \(errorText(errno))")
        }
        defer { Glibc.close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw StoreError.file(path: path, problem: "cannot be read: \(errorText(errno))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw StoreError.file(path: path, problem: "exists and is not a regular file")
        }
        if info.st_mode & 0o077 != 0 && fchmod(descriptor, 0o600) != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw StoreError.file(
                path: path, problem: "has mode 0\(mode) and cannot be made owner-only: \(errorText(errno))")
        }
        if created {
            let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directoryDescriptor >= 0 {
                _ = fsync(directoryDescriptor)
                Glibc.close(directoryDescriptor)
            }
        }
    }

    /// Takes an exclusive lock on `path` (created 0600): one server per
    /// state file. Returns the descriptor that holds it (closing it, or the
    /// process ending, releases it).
    static func lock(_ path: String, for database: String) throws(StoreError) -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw StoreError.file(path: path, problem: "cannot be opened as the lock file: \(errorText(errno))")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            Glibc.close(descriptor)
            if code == EWOULDBLOCK { throw StoreError.inUse(path: database, lock: path) }
            throw StoreError.file(path: path, problem: "cannot be locked: \(errorText(code))")
        }
        return descriptor
    }

    /// Creates `path` and its missing parents, owner-only (0700).
    static func makeDirectories(_ path: String) throws(StoreError) {
        do throws(DurableFiles.Failure) {
            try DurableFiles.makeDirectories(path)
        } catch {
            throw StoreError.directory(path: path, problem: error.reason)
        }
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
