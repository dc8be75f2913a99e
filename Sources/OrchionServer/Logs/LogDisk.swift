import Glibc

/// What an attempt's files say, from a scan of its index.
struct AttemptSummary: Sendable {
    /// Bytes of the log file the index covers.
    var size: UInt64 = 0
    /// Valid index records.
    var records: UInt64 = 0
    /// Per stream (0 unused, 1 stdout, 2 stderr): the end of the highest
    /// stream offset received.
    var highWater: [UInt64] = [0, 0, 0]
    /// What the attempt has used of its cap: output bytes plus index bytes.
    var cost: UInt64 = 0
    var dropped: UInt64 = 0
    var truncated = false
    var finished = false
    var endsWithNewline = true
    /// Bytes of a torn or invalid tail (log and index) left out (and, when
    /// prepared for writing, cut off).
    var discarded: UInt64 = 0
}

/// A piece of an attempt's log read back: bytes of one record (or part of one).
struct LogPiece: Sendable {
    var offset: UInt64
    var stream: UInt8
    var time: Int64
    var data: [UInt8]
}

/// The pieces one read returned and where the next read starts.
struct LogReadResult: Sendable {
    var pieces: [LogPiece]
    var nextOffset: UInt64
    /// The index record holding `nextOffset` (a hint for the next read).
    var nextRecord: UInt64
}

/// How much a job's log directory holds, and its newest change.
struct JobLogUsage: Sendable, Hashable {
    var jobID: String
    var bytes: UInt64
    /// Newest modification time of its files, seconds since the epoch.
    var modified: Int64
}

/// The blocking disk work of the log store, as plain functions of paths.
///
/// Threading: any thread but the loop's: every function blocks on the disk.
/// `LogStore` runs them on libuv's thread pool.
enum LogDisk {
    static let directoryPermissions: mode_t = 0o750
    static let filePermissions: mode_t = 0o640
    /// Index records read per `pread` when scanning.
    private static let recordsPerRead = 2048

    /// Scans an attempt's index and checks it against its log. For
    /// writing, creates the job's directory and both files when missing and
    /// cuts off a torn tail (a crash between the two writes), so the next
    /// append lands right after the last indexed byte. For reading, missing
    /// files are an empty attempt and nothing is changed.
    static func prepare(jobDirectory: String, log: String, index: String, forWriting: Bool)
        -> Result<AttemptSummary, LogError>
    {
        if forWriting, mkdir(jobDirectory, directoryPermissions) != 0, errno != EEXIST {
            return .failure(.disk(operation: "mkdir", path: jobDirectory, errno: errno))
        }
        let flags = forWriting ? O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW : O_RDONLY | O_CLOEXEC | O_NOFOLLOW
        let indexFD = open(index, flags, filePermissions)
        if indexFD < 0 {
            if !forWriting && errno == ENOENT { return .success(AttemptSummary()) }
            return .failure(.disk(operation: "open", path: index, errno: errno))
        }
        defer { close(indexFD) }
        let logFD = open(log, flags, filePermissions)
        if logFD < 0 {
            if !forWriting && errno == ENOENT { return .success(AttemptSummary()) }
            return .failure(.disk(operation: "open", path: log, errno: errno))
        }
        defer { close(logFD) }
        let logSize: UInt64
        let indexSize: UInt64
        switch (fileSize(logFD, path: log), fileSize(indexFD, path: index)) {
        case (.success(let l), .success(let i)): (logSize, indexSize) = (l, i)
        case (.failure(let error), _), (_, .failure(let error)): return .failure(error)
        }
        var summary = AttemptSummary()
        let total = indexSize / UInt64(LogRecord.size)
        var position: UInt64 = 0
        scan: while position < total {
            let count = Int(min(total - position, UInt64(recordsPerRead)))
            let block: [UInt8]
            switch readFully(indexFD, count: count * LogRecord.size, at: position * UInt64(LogRecord.size)) {
            case .success(let bytes): block = bytes
            case .failure(let failure): return .failure(.disk(operation: "read", path: index, errno: failure.code))
            }
            let valid = block.withUnsafeBytes { raw -> Int in
                for slot in 0..<(raw.count / LogRecord.size) {
                    guard let record = LogRecord.decode(raw, at: slot * LogRecord.size),
                        record.offset == summary.size, record.end <= logSize, !summary.finished
                    else { return slot }
                    summary.size = record.end
                    summary.records += 1
                    if record.flags & LogRecord.endFlag != 0 {
                        summary.finished = true
                        summary.dropped = record.streamOffset
                    } else if record.stream == LogRecord.storeStream {
                        if record.flags & LogRecord.markerFlag != 0 { summary.truncated = true }
                    } else {
                        let stream = Int(record.stream)
                        let end = record.streamOffset.addingReportingOverflow(UInt64(record.length))
                        if !end.overflow {
                            summary.highWater[stream] = max(summary.highWater[stream], end.partialValue)
                        }
                        summary.cost &+= UInt64(record.length) &+ UInt64(LogRecord.size)
                    }
                }
                return raw.count / LogRecord.size
            }
            position += UInt64(valid)
            if valid < count { break scan }
        }
        summary.discarded = (logSize - summary.size) + (indexSize - summary.records * UInt64(LogRecord.size))
        if forWriting && summary.discarded > 0 {
            if ftruncate(logFD, off_t(summary.size)) != 0 {
                return .failure(.disk(operation: "ftruncate", path: log, errno: errno))
            }
            if ftruncate(indexFD, off_t(summary.records * UInt64(LogRecord.size))) != 0 {
                return .failure(.disk(operation: "ftruncate", path: index, errno: errno))
            }
        }
        if summary.size > 0 {
            switch readFully(logFD, count: 1, at: summary.size - 1) {
            case .success(let last): summary.endsWithNewline = last.first == 0x0A
            case .failure(let failure): return .failure(.disk(operation: "read", path: log, errno: failure.code))
            }
        }
        return .success(summary)
    }

    /// Reads the log from `offset` up to `end` (at most `maxBytes`), split
    /// at record boundaries, using the first `recordLimit` index records
    /// (those written). `hint` is a record that may hold `offset`; it saves a
    /// binary search when it does.
    static func read(
        log: String, index: String, from offset: UInt64, end: UInt64, recordLimit: UInt64, hint: UInt64?,
        maxBytes: Int
    ) -> Result<LogReadResult, LogError> {
        guard offset < end else {
            return .success(LogReadResult(pieces: [], nextOffset: offset, nextRecord: hint ?? 0))
        }
        let logFD = open(log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if logFD < 0 { return .failure(.disk(operation: "open", path: log, errno: errno)) }
        defer { close(logFD) }
        let indexFD = open(index, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if indexFD < 0 { return .failure(.disk(operation: "open", path: index, errno: errno)) }
        defer { close(indexFD) }
        let corrupt = LogError.disk(operation: "read (index does not match the log)", path: index, errno: EIO)
        func record(_ number: UInt64) -> Result<LogRecord, LogError> {
            switch readFully(indexFD, count: LogRecord.size, at: number * UInt64(LogRecord.size)) {
            case .failure(let failure): return .failure(.disk(operation: "read", path: index, errno: failure.code))
            case .success(let bytes):
                guard let record = bytes.withUnsafeBytes({ LogRecord.decode($0, at: 0) }) else {
                    return .failure(corrupt)
                }
                return .success(record)
            }
        }
        // The first record ending after `offset`.
        var first: UInt64
        if let hint, hint < recordLimit, case .success(let candidate) = record(hint), candidate.offset <= offset,
            candidate.end > offset
        {
            first = hint
        } else {
            var low: UInt64 = 0
            var high = recordLimit
            while low < high {
                let middle = low + (high - low) / 2
                switch record(middle) {
                case .failure(let error): return .failure(error)
                case .success(let candidate):
                    if candidate.end <= offset { low = middle + 1 } else { high = middle }
                }
            }
            first = low
        }
        let stop = min(end, offset + UInt64(max(maxBytes, 1)))
        let data: [UInt8]
        switch readFully(logFD, count: Int(stop - offset), at: offset) {
        case .success(let bytes): data = bytes
        case .failure(let failure): return .failure(.disk(operation: "read", path: log, errno: failure.code))
        }
        guard data.count == Int(stop - offset) else { return .failure(corrupt) }
        var pieces: [LogPiece] = []
        var number = first
        var covered = offset
        while covered < stop && number < recordLimit {
            let count = Int(min(recordLimit - number, UInt64(recordsPerRead)))
            let block: [UInt8]
            switch readFully(indexFD, count: count * LogRecord.size, at: number * UInt64(LogRecord.size)) {
            case .success(let bytes): block = bytes
            case .failure(let failure): return .failure(.disk(operation: "read", path: index, errno: failure.code))
            }
            guard block.count == count * LogRecord.size else { return .failure(corrupt) }
            for slot in 0..<count {
                guard let record = block.withUnsafeBytes({ LogRecord.decode($0, at: slot * LogRecord.size) }),
                    record.offset <= covered
                else { return .failure(corrupt) }
                if record.end <= covered {
                    number += 1
                    continue
                }
                let pieceEnd = min(record.end, stop)
                let from = Int(covered - offset)
                let to = Int(pieceEnd - offset)
                pieces.append(
                    LogPiece(offset: covered, stream: record.stream, time: record.time, data: Array(data[from..<to])))
                covered = pieceEnd
                if record.end > stop { break }
                number += 1
                if covered >= stop { break }
            }
        }
        guard covered == stop else { return .failure(corrupt) }
        return .success(LogReadResult(pieces: pieces, nextOffset: stop, nextRecord: number))
    }

    /// The size and newest change of every job directory under `directory`
    /// whose name is a safe job id (anything else there is left alone).
    static func usage(directory: String) -> Result<[JobLogUsage], LogError> {
        guard let stream = opendir(directory) else {
            return .failure(.disk(operation: "opendir", path: directory, errno: errno))
        }
        defer { closedir(stream) }
        let root = dirfd(stream)
        var found: [JobLogUsage] = []
        while let entry = readdir(stream) {
            let name = entryName(entry)
            guard LogStore.isSafeJobID(name) else { continue }
            var info = stat()
            guard fstatat(root, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                continue
            }
            var usage = JobLogUsage(jobID: name, bytes: 0, modified: Int64(info.st_mtim.tv_sec))
            let fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0, let files = fdopendir(fd) else {
                if fd >= 0 { close(fd) }
                continue
            }
            while let file = readdir(files) {
                var fileInfo = stat()
                guard fstatat(fd, entryName(file), &fileInfo, AT_SYMLINK_NOFOLLOW) == 0,
                    fileInfo.st_mode & S_IFMT == S_IFREG
                else { continue }
                usage.bytes &+= UInt64(max(fileInfo.st_size, 0))
                usage.modified = max(usage.modified, Int64(fileInfo.st_mtim.tv_sec))
            }
            closedir(files)
            found.append(usage)
        }
        return .success(found)
    }

    /// Removes each job's log directory under `directory`: its files (not
    /// following links), then the directory. Returns the failures.
    static func remove(directory: String, jobIDs: [String]) -> [LogError] {
        var errors: [LogError] = []
        for jobID in jobIDs where LogStore.isSafeJobID(jobID) {
            let path = directory + "/" + jobID
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0, let files = fdopendir(fd) else {
                if fd >= 0 {
                    close(fd)
                } else if errno != ENOENT {
                    errors.append(.disk(operation: "open", path: path, errno: errno))
                }
                continue
            }
            var names: [String] = []
            while let file = readdir(files) {
                let name = entryName(file)
                if name != "." && name != ".." { names.append(name) }
            }
            for name in names where unlinkat(fd, name, 0) != 0 && errno != ENOENT {
                errors.append(.disk(operation: "unlink", path: path + "/" + name, errno: errno))
            }
            closedir(files)
            if rmdir(path) != 0 && errno != ENOENT {
                errors.append(.disk(operation: "rmdir", path: path, errno: errno))
            }
        }
        return errors
    }

    /// Creates `path` and any missing parents.
    static func makeDirectories(_ path: String) -> Result<Void, LogError> {
        do throws(DurableFiles.Failure) {
            try DurableFiles.makeDirectories(path, mode: directoryPermissions)
            return .success(())
        } catch {
            return .failure(.disk(operation: "mkdir", path: error.path, errno: error.errno))
        }
    }

    /// The size of an open file.
    private static func fileSize(_ fd: Int32, path: String) -> Result<UInt64, LogError> {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.disk(operation: "fstat", path: path, errno: errno)) }
        return .success(UInt64(max(info.st_size, 0)))
    }

    /// Up to `count` bytes at `offset` (fewer only at the end of the file),
    /// or `errno`.
    static func readFully(_ fd: Int32, count: Int, at offset: UInt64) -> Result<[UInt8], Errno> {
        guard count > 0 else { return .success([]) }
        guard offset <= UInt64(Int64.max) - UInt64(count) else { return .failure(Errno(code: EINVAL)) }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress.map { $0 + filled }, count - filled, off_t(offset) + off_t(filled))
            }
            if got < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(code: errno))
            }
            if got == 0 { break }
            filled += got
        }
        buffer.removeSubrange(filled...)
        return .success(buffer)
    }

    /// An `errno` value as an error.
    struct Errno: Error {
        let code: Int32
    }

    private static func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafePointer(to: &entry.pointee.d_name) { name in
            name.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: name.pointee)) {
                String(cString: $0)
            }
        }
    }
}
