import Glibc

/// The per-attempt working directories of jobs that name none:
/// `<root>/orchion-<job>-<attempt>`, mode 700, owned by the job's user,
/// removed with what the job left in it once the attempt has ended. The
/// root belongs to the agent and no one else may write to it (mode 711:
/// job users reach their own directory and cannot list the others'), so
/// no job can swap a path under it for a link.
///
/// Threading: every function blocks on the file system: call them off the
/// event loop (`prepareRoot` at startup).
public enum WorkDirectory {
    /// Most directory levels `remove` descends; deeper trees are left (and reported).
    static let maxDepth = 64

    /// Makes `root` (mode 711, and its parent when missing), or checks the
    /// directory there. Refused (found by attack): a root that is not a
    /// directory the agent owns with mode 711 (a directory it did not make
    /// is never chmodded, and a shared one such as /tmp never emptied of
    /// its `orchion-*` entries), and a root below a directory another user
    /// owns, or may write to without the sticky bit (who could swap the
    /// root for one of their own between two jobs). Links above it are
    /// followed, then checked where they lead.
    public static func prepareRoot(_ root: String) throws(JobRunnerError) {
        guard root.hasPrefix("/") else { throw .workDirectory(root, "expected an absolute path") }
        let parent = String(root[..<(root.lastIndex(of: "/") ?? root.startIndex)])
        if !parent.isEmpty && mkdir(parent, 0o711) != 0 && errno != EEXIST {
            throw .workDirectory(parent, "mkdir: \(CgroupFiles.describe(errno))")
        }
        let made = mkdir(root, 0o711) == 0
        if !made && errno != EEXIST { throw .workDirectory(root, "mkdir: \(CgroupFiles.describe(errno))") }
        var info = stat()
        guard lstat(root, &info) == 0 else { throw .workDirectory(root, "lstat: \(CgroupFiles.describe(errno))") }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw .workDirectory(root, "expected a directory, found another kind of file (a link?)")
        }
        guard info.st_uid == geteuid() else {
            throw .workDirectory(root, "owned by uid \(info.st_uid), expected \(geteuid()) (the agent's user)")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw .workDirectory(
                root,
                "others may write to it (mode \(String(info.st_mode & 0o7777, radix: 8))): expected a directory "
                    + "of the agent's own, not a shared one")
        }
        try checkAncestors(of: root)
        if made {
            guard chmod(root, 0o711) == 0 else {
                throw .workDirectory(root, "chmod 711: \(CgroupFiles.describe(errno))")
            }
        } else if info.st_mode & 0o7777 != 0o711 {
            // Not the agent's to change: it did not make it.
            throw .workDirectory(
                root,
                "expected mode 711 (job users pass through it to their own directories), found "
                    + "\(String(info.st_mode & 0o7777, radix: 8)): chmod 711 it, or name a new directory (the agent makes it)"
            )
        }
    }

    /// Every directory above `root`, where links lead: owned by root or the
    /// agent, and writable by others only with the sticky bit (/tmp).
    private static func checkAncestors(of root: String) throws(JobRunnerError) {
        guard let resolved = realpath(root, nil) else {
            throw .workDirectory(root, "realpath: \(CgroupFiles.describe(errno))")
        }
        var path = String(cString: resolved)
        free(resolved)
        let me = geteuid()
        while let slash = path.lastIndex(of: "/"), path != "/" {
            path = slash == path.startIndex ? "/" : String(path[..<slash])
            var info = stat()
            guard stat(path, &info) == 0 else { throw .workDirectory(path, "stat: \(CgroupFiles.describe(errno))") }
            guard info.st_uid == 0 || info.st_uid == me else {
                throw .workDirectory(
                    root, "\(path) above it is owned by uid \(info.st_uid): that user could replace the work directory")
            }
            guard info.st_mode & 0o022 == 0 || info.st_mode & S_ISVTX != 0 else {
                throw .workDirectory(
                    root,
                    "\(path) above it may be written by others (mode \(String(info.st_mode & 0o7777, radix: 8))) "
                        + "without the sticky bit: they could replace the work directory")
            }
        }
    }

    /// Removes the attempts' directories (`orchion-*`) a previous run of the
    /// agent left in `root` (it stopped their jobs before this runs).
    /// Returns how many it removed and why others could not be.
    public static func removeStale(in root: String) -> (removed: Int, problems: [String]) {
        guard let directory = opendir(root) else { return (0, []) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("orchion-") && !name.contains("/") { names.append(name) }
        }
        closedir(directory)
        var removed = 0
        var problems: [String] = []
        for name in names {
            if let problem = remove(root + "/" + name) { problems.append(problem) } else { removed += 1 }
        }
        return (removed, problems)
    }

    /// The working directory of `attempt` of `job` under `root`.
    public static func path(root: String, job: String, attempt: UInt32) -> String {
        root + "/" + JobCgroup.name(job: job, attempt: attempt)
    }

    /// Makes `path` (after removing a stale one of an agent that died) with
    /// mode 700, owned by `owner` (nil: the agent's user).
    static func make(_ path: String, owner: RunAsAccount?) throws(JobRunnerError) {
        var info = stat()
        if lstat(path, &info) == 0, let problem = remove(path) { throw .workDirectory(path, problem) }
        guard mkdir(path, 0o700) == 0 else { throw .workDirectory(path, "mkdir: \(CgroupFiles.describe(errno))") }
        // Never through a link (found by attack: chown followed one swapped in).
        if let owner, fchownat(AT_FDCWD, path, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 {
            let code = errno
            rmdir(path)
            throw .workDirectory(path, "chown to \(owner.name): \(CgroupFiles.describe(code))")
        }
    }

    /// Removes `path` and everything in it, never following a link (each
    /// level is opened relative to its parent with O_NOFOLLOW). Returns why
    /// it could not, or nil.
    public static func remove(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            // Not a directory (or a link to one): the entry itself goes.
            return unlink(path) == 0 ? nil : "cannot remove \(path): \(CgroupFiles.describe(errno))"
        }
        if let problem = removeContents(descriptor, depth: 0) { return "cannot remove \(path): \(problem)" }
        guard rmdir(path) == 0 || errno == ENOENT else {
            return "cannot remove \(path): \(CgroupFiles.describe(errno))"
        }
        return nil
    }

    /// Empties the directory open at `descriptor` (and closes it).
    private static func removeContents(_ descriptor: Int32, depth: Int) -> String? {
        guard let directory = fdopendir(descriptor) else {
            let code = errno
            close(descriptor)
            return CgroupFiles.describe(code)
        }
        defer { closedir(directory) }
        var problem: String?
        while let entry = readdir(directory) {
            // The name's bytes as they are (not necessarily UTF-8), NUL-terminated.
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) } + [0]
            }
            let dot = CChar(UInt8(ascii: "."))
            if name == [dot, 0] || name == [dot, dot, 0] || name == [0] { continue }
            let shown = String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if unlinkat(descriptor, name, 0) == 0 { continue }
            guard errno == EISDIR else {
                problem = "\(shown): \(CgroupFiles.describe(errno))"
                continue
            }
            guard depth < maxDepth else {
                problem = "more than \(maxDepth) directory levels"
                continue
            }
            let child = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else {
                problem = "\(shown): \(CgroupFiles.describe(errno))"
                continue
            }
            if let inner = removeContents(child, depth: depth + 1) { problem = "\(shown)/\(inner)" }
            if unlinkat(descriptor, name, AT_REMOVEDIR) != 0 && problem == nil {
                problem = "\(shown): \(CgroupFiles.describe(errno))"
            }
        }
        return problem
    }
}
