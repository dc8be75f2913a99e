import Glibc

/// Where `ld.so` will look for a plugin's libraries (DT_RUNPATH, DT_RPATH,
/// a DT_NEEDED path), checked before `dlopen` with nothing but `lstat`,
/// `stat` and `realpath`: the plugin's search path must pass the same
/// permission rule as the plugin itself, and every library it finds there
/// must be a regular file (a FIFO would block `dlopen` forever).
///
/// Libraries found through the system's default directories and
/// `ld.so.cache` (and `LD_LIBRARY_PATH`, the operator's own) are trusted as
/// the system's. A library's own dependencies are not followed.
///
/// Threading: no shared state; safe on any thread (it reads the disk, so a
/// running host calls it on the thread pool).
enum LibrarySearch {
    /// What `$ORIGIN` expands to: the plugin is loaded as `/proc/self/fd/N`
    /// (`PluginFile.snapshot`), so its origin is the host's own descriptor
    /// table, no library directory.
    static let origin = "/proc/self/fd"

    /// One directory of the search path.
    private struct Directory {
        /// The entry as the file spells it.
        let entry: String
        /// The path after `$ORIGIN` substitution.
        let path: String
        /// Whether it is the origin (the host's descriptors).
        var isOrigin: Bool { path == LibrarySearch.origin || path.hasPrefix(LibrarySearch.origin + "/") }
    }

    /// Refuses `dynamic`'s search path or libraries as described above.
    /// Both DT_RUNPATH and DT_RPATH are checked (the loader ignores DT_RPATH
    /// when DT_RUNPATH is present: checking both is stricter).
    static func check(_ dynamic: ELFDynamic, file: String) throws(PluginError) {
        var directories: [Directory] = []
        for entry in dynamic.runPath + dynamic.rPath {
            let path = entry.replacing("${ORIGIN}", with: origin).replacing("$ORIGIN", with: origin)
            guard !path.contains("$") else {
                throw .unsafeLibraryPath(
                    file: file, entry: entry,
                    reason: "uses a $ token other than $ORIGIN, expected an absolute directory")
            }
            guard path.hasPrefix("/") else {
                throw .unsafeLibraryPath(
                    file: file, entry: entry,
                    reason: "is relative (to the working directory), expected an absolute directory")
            }
            let directory = Directory(entry: entry, path: path)
            if !directory.isOrigin { try checkDirectory(directory, file: file) }
            directories.append(directory)
        }
        for name in dynamic.needed where !name.isEmpty {
            guard !name.contains("$") else {
                throw .unsafeDependency(file: file, library: name, found: "a $ token", expected: "a plain name")
            }
            if name.contains("/") {
                guard name.hasPrefix("/") else {
                    throw .unsafeDependency(
                        file: file, library: name, found: "a relative path", expected: "a name or an absolute path")
                }
                try checkLibrary(at: name, named: name, origin: false, file: file)
                continue
            }
            for directory in directories {
                let candidate = directory.path + "/" + name
                if try checkLibrary(at: candidate, named: name, origin: directory.isOrigin, file: file) { break }
            }
        }
    }

    /// Checks a search directory with the plugin's permission rule; a
    /// missing one through its nearest existing ancestor (nobody else can
    /// create it there).
    private static func checkDirectory(_ directory: Directory, file: String) throws(PluginError) {
        var current = directory.path
        var info = stat()
        while lstat(current, &info) != 0 {
            guard errno == ENOENT || errno == ENOTDIR, current != "/" else {
                throw .unsafeLibraryPath(file: file, entry: directory.entry, reason: "\(current): \(lastError())")
            }
            current = PluginFile.parent(of: current)
        }
        guard let resolved = PluginFile.realPath(current) else {
            throw .unsafeLibraryPath(file: file, entry: directory.entry, reason: "\(current): \(lastError())")
        }
        do {
            try PluginFile.strictModes(resolved, file: file)
        } catch {
            throw .unsafeLibraryPath(file: file, entry: directory.entry, reason: reason(error))
        }
    }

    /// Whether a library exists at `path` (the loader would open it). An
    /// existing one must be a regular file passing the permission rule, and
    /// none may be found among the host's descriptors.
    @discardableResult
    private static func checkLibrary(
        at path: String, named name: String, origin: Bool, file: String
    ) throws(PluginError) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return false }
            throw .unsafeDependency(
                file: file, library: name, found: "\(path): \(lastError())", expected: "a regular file")
        }
        if origin {
            throw .unsafeDependency(
                file: file, library: name, found: "\(path), one of the host's open descriptors ($ORIGIN)",
                expected: "a library in an absolute run path or the system's directories")
        }
        // A link is followed (without opening anything) to what it names.
        guard stat(path, &info) == 0 else {
            let found = "\(path): a symbolic link that resolves to nothing (\(lastError()))"
            throw .unsafeDependency(file: file, library: name, found: found, expected: "a regular file")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .unsafeDependency(
                file: file, library: name, found: "\(path): \(PluginFile.describe(mode: info.st_mode))",
                expected: "a regular file")
        }
        guard let resolved = PluginFile.realPath(path) else {
            throw .unsafeDependency(
                file: file, library: name, found: "\(path): \(lastError())", expected: "a regular file")
        }
        do {
            try PluginFile.strictModes(resolved, file: file)
        } catch {
            throw .unsafeDependency(
                file: file, library: name, found: reason(error), expected: "a library only its owner can change")
        }
        return true
    }

    private static func reason(_ error: PluginError) -> String {
        if case let .unsafePermissions(_, path, reason) = error {
            return "\(path) \(reason), expected writable only by its owner (root or this user)"
        }
        return error.description
    }
}
