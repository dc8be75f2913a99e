import Glibc

/// A plugin file read whole, after checks that need no plugin code: its type
/// (a regular file, found without any open that could block), its
/// permissions (sshd's StrictModes rule) and its size. Its bytes are then
/// checked as ELF and loaded from a sealed in-memory snapshot, so a file
/// rewritten or truncated while mapped cannot fault the host.
///
/// Threading: no shared state; safe on any thread (it reads the disk, so a
/// running host calls it on the thread pool).
struct PluginFile {
    /// The path as given.
    let file: String
    /// The path with every symbolic link resolved.
    let resolved: String
    /// The whole content, read once.
    let bytes: [UInt8]

    /// The largest plugin file accepted, in bytes.
    static let sizeLimit: Int64 = 512 << 20

    /// Checks `file` and reads it whole.
    static func read(_ file: String) throws(PluginError) -> PluginFile {
        var info = stat()
        guard lstat(file, &info) == 0 else { throw .unreadable(file: file, reason: lastError()) }
        let isLink = info.st_mode & S_IFMT == S_IFLNK
        // Absolute, with every link resolved: what the permission walk and
        // the open below look at.
        guard let resolved = realPath(file) else {
            let code = errno
            guard isLink else { throw .unreadable(file: file, reason: lastError(code)) }
            throw .notRegularFile(
                file: file,
                found: code == ELOOP
                    ? "a symbolic link loop"
                    : code == ENOENT ? "a dangling symbolic link" : "a symbolic link (\(lastError(code)))")
        }
        let linkOwner = info.st_uid
        if isLink {
            guard lstat(resolved, &info) == 0 else { throw .unreadable(file: file, reason: lastError()) }
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .notRegularFile(file: file, found: describe(mode: info.st_mode))
        }
        // The directory holding the name (a symlink there can be swapped),
        // then the file itself and every directory above it.
        if isLink, let directory = realPath(parent(of: file)) {
            try strictModes(directory, file: file)
            try followable(link: file, owner: linkOwner, in: directory)
        }
        try strictModes(resolved, file: file)

        // O_NONBLOCK: a FIFO swapped in after the check cannot block the open.
        let descriptor = open(resolved, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else { throw .unreadable(file: file, reason: lastError()) }
        defer { close(descriptor) }
        var opened = stat()
        guard fstat(descriptor, &opened) == 0 else { throw .unreadable(file: file, reason: lastError()) }
        guard opened.st_mode & S_IFMT == S_IFREG else {
            throw .notRegularFile(file: file, found: describe(mode: opened.st_mode))
        }
        guard opened.st_dev == info.st_dev, opened.st_ino == info.st_ino else {
            throw .unreadable(file: file, reason: "it was replaced while being checked")
        }
        guard Int64(opened.st_size) <= sizeLimit else {
            throw .tooLarge(file: file, found: Int64(opened.st_size), limit: sizeLimit)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(opened.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(file: file, reason: lastError())
            }
            if count == 0 { break }
            bytes += chunk.prefix(count)
            guard Int64(bytes.count) <= sizeLimit else {
                throw .tooLarge(file: file, found: Int64(bytes.count), limit: sizeLimit)
            }
        }
        return PluginFile(file: file, resolved: resolved, bytes: bytes)
    }

    /// Refuses `path` and each directory above it when anyone but its owner
    /// and root could change it: owned by another non-root user, or group- or
    /// world-writable (a directory only when it lacks the sticky bit, like /tmp).
    static func strictModes(_ path: String, file: String) throws(PluginError) {
        let me = geteuid()
        var current = path
        while true {
            var info = stat()
            guard lstat(current, &info) == 0 else {
                throw .unreadable(file: file, reason: "\(current): \(lastError())")
            }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            let mode = String(info.st_mode & 0o7777, radix: 8)
            if info.st_uid != 0 && info.st_uid != me {
                throw .unsafePermissions(
                    file: file, path: current, reason: "is owned by uid \(info.st_uid) (mode \(mode))")
            }
            let sticky = isDirectory && info.st_mode & S_ISVTX != 0
            if info.st_mode & S_IWOTH != 0 && !sticky {
                throw .unsafePermissions(file: file, path: current, reason: "is world-writable (mode \(mode))")
            }
            if info.st_mode & S_IWGRP != 0 && !sticky {
                throw .unsafePermissions(file: file, path: current, reason: "is group-writable (mode \(mode))")
            }
            guard current.hasPrefix("/"), current != "/" else { return }
            current = parent(of: current)
        }
    }

    /// Refuses a symbolic link in a sticky directory others may write to
    /// (like /tmp) unless root or the running user owns it, like Linux's
    /// `fs.protected_symlinks`: there another user may plant a link, and
    /// choose which file (their constructors run) is loaded.
    static func followable(link file: String, owner: uid_t, in directory: String) throws(PluginError) {
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw .unreadable(file: file, reason: "\(directory): \(lastError())")
        }
        let sticky = info.st_mode & S_ISVTX != 0
        let shared = info.st_mode & (S_IWOTH | S_IWGRP) != 0
        guard sticky, shared, owner != 0, owner != geteuid() else { return }
        throw .unsafePermissions(
            file: file, path: file,
            reason: "is a symbolic link owned by uid \(owner) in sticky directory \(directory)"
                + " (mode \(String(info.st_mode & 0o7777, radix: 8))); only links owned by root or uid"
                + " \(geteuid()) are followed there")
    }

    /// Copies the bytes into a sealed memfd: a snapshot nobody can change.
    /// Returns its descriptor; the caller loads "/proc/self/fd/N" and, once
    /// `dlopen` succeeded, keeps the descriptor open for the life of the
    /// process (the image is never unmapped, and a reused descriptor number
    /// would make the dynamic linker hand back the old image for the path).
    func snapshot() throws(PluginError) -> Int32 {
        guard let create = DynamicLinker.memfdCreate else {
            throw .unreadable(file: file, reason: "memfd_create is not available")
        }
        let name = "orchion-plugin:" + (resolved.split(separator: "/").last.map(String.init) ?? "plugin")
        let descriptor = create(name, 0x0001 | 0x0002)  // MFD_CLOEXEC | MFD_ALLOW_SEALING
        guard descriptor >= 0 else { throw .unreadable(file: file, reason: "memfd_create: \(lastError())") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { all in
                write(descriptor, all.baseAddress.map { $0 + written }, all.count - written)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let reason = lastError()
                close(descriptor)
                throw .unreadable(file: file, reason: "copying into memory: \(reason)")
            }
            written += count
        }
        // F_ADD_SEALS: F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE.
        guard fcntl(descriptor, 1033, Int32(1 | 2 | 4 | 8)) == 0 else {
            let reason = lastError()
            close(descriptor)
            throw .unreadable(file: file, reason: "sealing the copy: \(reason)")
        }
        return descriptor
    }

    /// What kind of file `mode` says, in words ("a FIFO").
    static func describe(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "file type \(String(mode & S_IFMT, radix: 8))"
        }
    }

    /// `path` with every symbolic link resolved, or nil.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// `strerror(errno)` as a String.
func lastError(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// glibc functions the Swift Glibc module does not declare (they need
/// `_GNU_SOURCE`), looked up once by name.
enum DynamicLinker {
    typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32
    typealias DlAddr1 =
        @convention(c) (
            UnsafeRawPointer?, UnsafeMutableRawPointer, UnsafeMutablePointer<UnsafeRawPointer?>, Int32
        ) -> Int32
    typealias DlInfo = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer) -> Int32

    typealias DlAddr = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer) -> Int32

    static let memfdCreate: MemfdCreate? = lookup("memfd_create")
    static let dladdr: DlAddr? = lookup("dladdr")
    static let dladdr1: DlAddr1? = lookup("dladdr1")
    static let dlinfo: DlInfo? = lookup("dlinfo")

    private static func lookup<T>(_ name: String) -> T? {
        // RTLD_DEFAULT is the null handle in glibc.
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: T.self)
    }

    /// The load bias (`l_addr`) of the object `handle` names.
    static func loadBias(_ handle: UnsafeMutableRawPointer) -> UInt? {
        guard let dlinfo else { return nil }
        var map: UnsafeRawPointer?
        // RTLD_DI_LINKMAP = 2; `l_addr` is the first field of `struct link_map`.
        guard dlinfo(handle, 2, &map) == 0, let map else { return nil }
        return map.load(as: UInt.self)
    }

    /// Whether `address` lies inside an object the dynamic linker has loaded.
    static func isInLoadedObject(_ address: UnsafeRawPointer) -> Bool {
        guard let dladdr else { return false }
        // Dl_info is four pointers: dli_fname, dli_fbase, dli_sname, dli_saddr.
        var info: (UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil, nil, nil)
        return withUnsafeMutableBytes(of: &info) { raw in raw.baseAddress.map { dladdr(address, $0) != 0 } ?? false }
    }

    /// The ELF symbol type (`STT_*`) of the symbol at exactly `address`, or
    /// nil when the dynamic linker knows no symbol there.
    static func symbolType(at address: UnsafeRawPointer) -> UInt8? {
        guard let dladdr1 else { return nil }
        // Dl_info is four pointers: dli_fname, dli_fbase, dli_sname, dli_saddr.
        var info: (UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil, nil, nil)
        var symbol: UnsafeRawPointer?
        let found = withUnsafeMutableBytes(of: &info) { raw -> Int32 in
            guard let base = raw.baseAddress else { return 0 }
            return dladdr1(address, base, &symbol, 1)  // RTLD_DL_SYMENT
        }
        guard found != 0, let symbol, info.3 == address else { return nil }
        // ElfW(Sym): st_info is the byte after the 4-byte st_name on both classes.
        let stInfo = symbol.load(fromByteOffset: 4, as: UInt8.self)
        return MemoryLayout<Int>.size == 8 ? stInfo & 0xF : symbol.load(fromByteOffset: 12, as: UInt8.self) & 0xF
    }
}
