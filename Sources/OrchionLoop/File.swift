import CLibUV
import Glibc

/// An open file whose every operation is a `uv_fs_*` request: it runs on
/// libuv's thread pool and completes on the loop thread, so the loop never
/// waits for the disk. For job logs and the agent's spool.
///
/// The operations of one `File` run one at a time in the order they were
/// called: appends land in call order, a `sync` covers every write called
/// before it, and `close` waits for what is queued. A short write is
/// continued until every byte is written or an error occurs.
///
/// Threading: loop thread only, checked at every public entry point (traps
/// off the loop thread, naming the call). Completions run on the loop thread.
/// `@unchecked Sendable` is backed by that check, as for handles. A file must
/// be closed; it holds a descriptor until then.
public final class File: @unchecked Sendable {
    /// How to open a file.
    public struct Mode: Sendable, Hashable {
        /// The `open(2)` flags.
        public var flags: Int32

        public init(flags: Int32) { self.flags = flags }

        /// Read only; the file must exist.
        public static let read = Mode(flags: O_RDONLY)
        /// Append only; created if missing.
        public static let append = Mode(flags: O_WRONLY | O_CREAT | O_APPEND)
        /// Read and write at offsets; created if missing.
        public static let readWrite = Mode(flags: O_RDWR | O_CREAT)
        /// Write from empty: created if missing, truncated if not.
        public static let truncate = Mode(flags: O_WRONLY | O_CREAT | O_TRUNC)
    }

    /// The loop whose thread uses the file.
    public let loop: EventLoop
    /// The path it was opened with.
    public let path: String
    private var descriptor: Int32
    private var operations: [(@escaping () -> Void) -> Void] = []
    private var busy = false
    private var closeCalled = false

    private init(loop: EventLoop, path: String, descriptor: Int32) {
        self.loop = loop
        self.path = path
        self.descriptor = descriptor
    }

    /// Opens `path`; `completion` gets the file or an error naming the path.
    /// `permissions` apply when the file is created. Call on the loop thread.
    public static func open(
        _ path: String, mode: Mode, permissions: Int32 = 0o644, loop: EventLoop,
        _ completion: @escaping (Result<File, FileError>) -> Void
    ) {
        loop.preconditionInLoopThread("File.open(_:mode:permissions:loop:_:)")
        FSRequest.start(
            loop: loop, operation: "open", path: path,
            { request, callback in uv_fs_open(loop.raw, request, path, mode.flags | O_CLOEXEC, permissions, callback) },
            completion: { result in
                completion(
                    result.map { File(loop: loop, path: path, descriptor: Int32(truncatingIfNeeded: $0.result)) })
            })
    }

    /// Writes all of `bytes` at `offset`, or at the current position (the
    /// end, for `.append`) when `offset` is nil. A negative offset, or one
    /// the write would take past `Int64.max`, fails with `EINVAL`. Without a
    /// completion a failure goes unseen: pass one for data that matters.
    public func write(
        _ bytes: [UInt8], at offset: Int64? = nil, _ completion: ((Result<Void, FileError>) -> Void)? = nil
    ) {
        preconditionInLoopThread()
        if let offset, offset < 0 || offset > Int64.max - Int64(bytes.count) {
            return later(completion ?? { _ in }, .failure(FileError("write", path: path, code: UVCode.inval)))
        }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { storage.baseAddress?.copyMemory(from: base, byteCount: source.count) }
        }
        let total = bytes.count
        perform { [self] done in
            func finish(_ result: Result<Void, FileError>) {
                storage.deallocate()
                completion?(result)
                done()
            }
            func writeFrom(_ written: Int) {
                guard written < total, let base = storage.baseAddress else { return finish(.success(())) }
                let position = offset.map { $0 + Int64(written) } ?? -1
                var buffer = uv_buf_init(
                    (base + written).assumingMemoryBound(to: CChar.self), UInt32(clamping: total - written))
                FSRequest.start(
                    loop: loop, operation: "write", path: path,
                    { request, callback in uv_fs_write(loop.raw, request, descriptor, &buffer, 1, position, callback) },
                    completion: { result in
                        switch result {
                        case .success(let request) where request.result > 0: writeFrom(written + request.result)
                        case .success:
                            // No progress and no error: do not spin on it.
                            finish(.failure(FileError("write (no progress)", path: self.path, code: UVCode.io)))
                        case .failure(let error): finish(.failure(error))
                        }
                    })
            }
            guard descriptor >= 0 else { return finish(.failure(closedError("write"))) }
            writeFrom(0)
        }
    }

    /// Reads up to `count` bytes at `offset` (or the current position when
    /// nil). Fewer bytes come back near the end; none at or past it. A
    /// negative `offset` or `count` fails with `EINVAL`.
    public func read(
        at offset: Int64? = nil, count: Int, _ completion: @escaping (Result<[UInt8], FileError>) -> Void
    ) {
        preconditionInLoopThread()
        guard count >= 0, (offset ?? 0) >= 0 else {
            return later(completion, .failure(FileError("read", path: path, code: UVCode.inval)))
        }
        perform { [self] done in
            guard descriptor >= 0 else {
                completion(.failure(closedError("read")))
                return done()
            }
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
            var buffer = uv_buf_init(storage.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(clamping: count))
            FSRequest.start(
                loop: loop, operation: "read", path: path,
                { request, callback in uv_fs_read(loop.raw, request, descriptor, &buffer, 1, offset ?? -1, callback) },
                completion: { result in
                    let bytes = result.map { request in
                        Array(UnsafeRawBufferPointer(rebasing: storage.prefix(Int(request.result))))
                    }
                    storage.deallocate()
                    completion(bytes)
                    done()
                })
        }
    }

    /// Reads the whole file from `offset` on, in chunks, failing with `EFBIG`
    /// once it holds more than `limit` bytes (a file is not trusted to be small).
    public func readToEnd(
        from offset: Int64 = 0, limit: Int = 64 << 20, _ completion: @escaping (Result<[UInt8], FileError>) -> Void
    ) {
        preconditionInLoopThread()
        guard offset >= 0, limit >= 0, offset <= Int64.max - Int64(limit) - (64 << 10) else {
            return later(completion, .failure(FileError("read", path: path, code: UVCode.inval)))
        }
        var collected: [UInt8] = []
        func next() {
            read(at: offset + Int64(collected.count), count: 64 << 10) { [path] result in
                switch result {
                case .failure(let error): completion(.failure(error))
                case .success(let chunk) where chunk.isEmpty: completion(.success(collected))
                case .success(let chunk):
                    collected += chunk
                    if collected.count > limit {
                        completion(.failure(FileError("read (over \(limit) bytes)", path: path, code: UVCode.fbig)))
                    } else {
                        next()
                    }
                }
            }
        }
        next()
    }

    /// Flushes what was written before this call to the disk (`fsync`).
    public func sync(_ completion: @escaping (Result<Void, FileError>) -> Void) {
        preconditionInLoopThread()
        perform { [self] done in
            guard descriptor >= 0 else {
                completion(.failure(closedError("fsync")))
                return done()
            }
            FSRequest.start(
                loop: loop, operation: "fsync", path: path,
                { request, callback in uv_fs_fsync(loop.raw, request, descriptor, callback) },
                completion: { result in
                    completion(result.map { _ in () })
                    done()
                })
        }
    }

    /// The file's status (`fstat`).
    public func status(_ completion: @escaping (Result<FileStatus, FileError>) -> Void) {
        preconditionInLoopThread()
        perform { [self] done in
            guard descriptor >= 0 else {
                completion(.failure(closedError("fstat")))
                return done()
            }
            FSRequest.start(
                loop: loop, operation: "fstat", path: path,
                { request, callback in uv_fs_fstat(loop.raw, request, descriptor, callback) },
                completion: { result in
                    completion(result.map { FileStatus($0.statbuf) })
                    done()
                })
        }
    }

    /// Closes the file after every operation called before it. Calling it
    /// again completes at once; operations called after it fail with `EBADF`.
    public func close(_ completion: ((Result<Void, FileError>) -> Void)? = nil) {
        preconditionInLoopThread()
        guard !closeCalled else { return later(completion ?? { _ in }, .success(())) }
        closeCalled = true
        perform { [self] done in
            let fd = descriptor
            descriptor = -1
            FSRequest.start(
                loop: loop, operation: "close", path: path,
                { request, callback in uv_fs_close(loop.raw, request, fd, callback) },
                completion: { result in
                    completion?(result.map { _ in () })
                    done()
                })
        }
    }

    /// Traps off the loop thread, naming the method.
    private func preconditionInLoopThread(_ method: StaticString = #function) {
        loop.preconditionInLoopThread("File.\(method) (\(path))")
    }

    private func closedError(_ operation: String) -> FileError {
        FileError(operation, path: path, code: UVCode.badf)
    }

    /// Queues an operation; it calls `done` when finished, starting the next.
    private func perform(_ operation: @escaping (_ done: @escaping () -> Void) -> Void) {
        operations.append(operation)
        if !busy { next() }
    }

    private func next() {
        guard !operations.isEmpty else {
            busy = false
            return
        }
        busy = true
        let operation = operations.removeFirst()
        operation { [self] in next() }
    }

    /// Delivers `result` on a later loop turn (never re-entrantly).
    private func later<T>(_ completion: @escaping (Result<T, FileError>) -> Void, _ result: Result<T, FileError>) {
        let bound = LoopBound(completion, loop: loop)
        let boundResult = LoopBound(result, loop: loop)
        loop.execute { bound.wrapped(boundResult.wrapped) }
    }
}

/// What `stat` says about a file.
public struct FileStatus: Sendable, Hashable {
    /// Size in bytes.
    public let size: UInt64
    /// Type and permission bits (`st_mode`).
    public let mode: UInt32
    /// Last modification, seconds since the epoch.
    public let modifiedSeconds: Int64

    init(_ stat: uv_stat_t) {
        size = stat.st_size
        mode = UInt32(truncatingIfNeeded: stat.st_mode)
        modifiedSeconds = Int64(stat.st_mtim.tv_sec)
    }

    /// Whether it is a regular file.
    public var isRegularFile: Bool { mode & 0o170000 == 0o100000 }
    /// Whether it is a directory.
    public var isDirectory: Bool { mode & 0o170000 == 0o040000 }
    /// The permission bits, e.g. 0o644.
    public var permissions: UInt32 { mode & 0o7777 }
}

/// Path operations as `uv_fs_*` requests, completing on the loop thread.
/// Threading: call on the loop thread (checked).
public enum FileSystem {
    /// Renames `from` to `to` (atomically replacing `to`, as `rename(2)`).
    public static func rename(
        _ from: String, to: String, loop: EventLoop, _ completion: @escaping (Result<Void, FileError>) -> Void
    ) {
        loop.preconditionInLoopThread("FileSystem.rename(_:to:loop:_:)")
        FSRequest.start(
            loop: loop, operation: "rename", path: "\(from) -> \(to)",
            { request, callback in uv_fs_rename(loop.raw, request, from, to, callback) },
            completion: { completion($0.map { _ in () }) })
    }

    /// Removes the file at `path`.
    public static func unlink(
        _ path: String, loop: EventLoop, _ completion: @escaping (Result<Void, FileError>) -> Void
    ) {
        loop.preconditionInLoopThread("FileSystem.unlink(_:loop:_:)")
        FSRequest.start(
            loop: loop, operation: "unlink", path: path,
            { request, callback in uv_fs_unlink(loop.raw, request, path, callback) },
            completion: { completion($0.map { _ in () }) })
    }

    /// The status of `path`, following symbolic links.
    public static func status(
        _ path: String, loop: EventLoop, _ completion: @escaping (Result<FileStatus, FileError>) -> Void
    ) {
        loop.preconditionInLoopThread("FileSystem.status(_:loop:_:)")
        FSRequest.start(
            loop: loop, operation: "stat", path: path,
            { request, callback in uv_fs_stat(loop.raw, request, path, callback) },
            completion: { completion($0.map { FileStatus($0.statbuf) }) })
    }

    /// Creates the directory `path` with `permissions`.
    public static func makeDirectory(
        _ path: String, permissions: Int32 = 0o755, loop: EventLoop,
        _ completion: @escaping (Result<Void, FileError>) -> Void
    ) {
        loop.preconditionInLoopThread("FileSystem.makeDirectory(_:permissions:loop:_:)")
        FSRequest.start(
            loop: loop, operation: "mkdir", path: path,
            { request, callback in uv_fs_mkdir(loop.raw, request, path, permissions, callback) },
            completion: { completion($0.map { _ in () }) })
    }
}

/// libuv error codes used here, as `Int32`.
private enum UVCode {
    static let inval = Int32(UV_EINVAL.rawValue)
    static let badf = Int32(UV_EBADF.rawValue)
    static let fbig = Int32(UV_EFBIG.rawValue)
    static let io = Int32(UV_EIO.rawValue)
}

/// One `uv_fs_t` in flight, retained from `start` until its callback.
private final class FSRequest {
    /// What a finished request says: its result and, for stat, the status.
    struct Done {
        let result: Int
        let statbuf: uv_stat_t
    }

    private let request = UnsafeMutablePointer<uv_fs_t>.allocate(capacity: 1)
    private let completion: (Result<Done, FileError>) -> Void
    private let operation: String
    private let path: String

    private init(operation: String, path: String, completion: @escaping (Result<Done, FileError>) -> Void) {
        self.operation = operation
        self.path = path
        self.completion = completion
    }

    deinit { request.deallocate() }

    /// Issues a request with `issue` (which calls a `uv_fs_*` function with
    /// the request and callback); `completion` runs on the loop thread, on a
    /// later turn even when libuv refuses the request at once.
    static func start(
        loop: EventLoop, operation: String, path: String,
        _ issue: (UnsafeMutablePointer<uv_fs_t>, uv_fs_cb) -> Int32,
        completion: @escaping (Result<Done, FileError>) -> Void
    ) {
        let box = FSRequest(operation: operation, path: path, completion: completion)
        box.request.pointee.data = Unmanaged.passRetained(box).toOpaque()
        let status = issue(box.request) { request in
            guard let request, let data = request.pointee.data else { return }
            let box = Unmanaged<FSRequest>.fromOpaque(data).takeRetainedValue()
            box.finish()
        }
        if status < 0 {
            // No callback will come; report on a later turn, like one would.
            Unmanaged<FSRequest>.fromOpaque(box.request.pointee.data).release()
            uv_fs_req_cleanup(box.request)
            let error = FileError(operation, path: path, code: status)
            let bound = LoopBound(completion, loop: loop)
            loop.execute { bound.wrapped(.failure(error)) }
        }
    }

    private func finish() {
        let result = Int(request.pointee.result)
        let done = Done(result: result, statbuf: request.pointee.statbuf)
        uv_fs_req_cleanup(request)
        if result < 0 {
            completion(.failure(FileError(operation, path: path, code: Int32(truncatingIfNeeded: result))))
        } else {
            completion(.success(done))
        }
    }
}
