import Glibc
import OrchionProto
import Synchronization

/// The agent's durable memory, one append-only file in the state directory
/// (`journal`): which attempts it accepted and started (so a redelivered
/// assignment is never run twice, even across an agent restart), their end
/// events, and output kept while the server was unreachable (the spool),
/// each until it was delivered.
///
/// A record is `[length u32][crc32 u32][kind u8][sequence u64][body]`
/// (little-endian). Appends reach the file with `write`; `sync()` makes them
/// durable (`fdatasync`); the agent counts a record as kept only once the
/// sync after it has returned, so a kill -9 loses nothing counted. A torn
/// or corrupt tail (a crash mid-write) is cut off when the file is opened.
/// When most of the file is delivered output, `compactIfUseful()` rewrites
/// what still matters to a new file, syncs it and renames it over the old.
///
/// One agent per state directory: `open` takes an exclusive lock on
/// `journal.lock` there, held while the journal is open, and refuses a
/// directory another agent holds (a second agent would cut the first's
/// records as a torn tail, write over them, and kill its running jobs as
/// left over from a restart).
///
/// Threading: blocking file I/O; every method runs on the agent's journal
/// worker thread (one at a time; the lock only makes it `Sendable`).
public final class AgentJournal: Sendable {
    /// What a record is.
    enum Kind: UInt8 {
        case accepted = 1
        case started = 2
        case output = 3
        case ended = 4
        case delivered = 5
    }

    /// What the journal knows of an attempt.
    public enum AttemptState: Sendable {
        case accepted
        case started(pid: Int32)
        case ended(Orchion_V1_JobEvent)
    }

    /// An output or end record not yet delivered.
    public struct Pending: Sendable, Hashable {
        public let sequence: UInt64
        public let key: AttemptKey
        /// Output bytes it holds (0 for an end).
        public let outputBytes: UInt64
        public let isEnd: Bool
    }

    /// What was in the file when it was opened.
    public struct Recovered: Sendable {
        /// Every attempt remembered, oldest first.
        public var attempts: [(AttemptKey, AttemptState)] = []
        /// Undelivered records in the order they were written.
        public var pending: [Pending] = []
        /// Bytes cut from a torn tail.
        public var truncatedBytes: Int64 = 0
    }

    /// Ended attempts remembered after a compaction (older ones are forgotten).
    static let rememberedEnds = 4096

    private struct Location {
        var offset: Int64
        var length: Int
        var pending: Pending
    }

    private struct State {
        var descriptor: Int32
        var size: Int64
        var nextSequence: UInt64 = 1
        var attempts: [AttemptKey: AttemptState] = [:]
        var order: [AttemptKey] = []
        var locations: [UInt64: Location] = [:]
        var pendingBytes: Int64 = 0
        var dirty = false
    }

    public let path: String
    private let directory: String
    private let state: Mutex<State>
    /// Holds the state directory's lock while the journal is open.
    private let lockDescriptor: Int32

    private init(path: String, directory: String, state: State, lockDescriptor: Int32) {
        self.path = path
        self.directory = directory
        self.state = Mutex(state)
        self.lockDescriptor = lockDescriptor
    }

    deinit {
        state.withLock { _ = close($0.descriptor) }
        _ = close(lockDescriptor)
    }

    /// Opens (or creates) `directory/journal`, making the directory (mode
    /// 700) when missing, and reads back what it holds.
    public static func open(directory: String) throws(JournalError) -> (AgentJournal, Recovered) {
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw .io("create the state directory \(directory)", errno)
        }
        let lockPath = directory + "/journal.lock"
        let lock = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else { throw .io("open \(lockPath)", errno) }
        if flock(lock, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            _ = close(lock)
            if code == EWOULDBLOCK { throw .inUse(directory: directory, lock: lockPath) }
            throw .io("lock \(lockPath)", code)
        }
        let path = directory + "/journal"
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            _ = close(lock)
            throw .io("open \(path)", code)
        }
        var state = State(descriptor: descriptor, size: 0)
        var recovered = Recovered()
        do throws(JournalError) {
            recovered = try replay(into: &state, path: path)
        } catch {
            _ = close(descriptor)
            _ = close(lock)
            throw error
        }
        let journal = AgentJournal(path: path, directory: directory, state: state, lockDescriptor: lock)
        return (journal, recovered)
    }

    /// Reads every record, cutting a torn tail.
    private static func replay(into state: inout State, path: String) throws(JournalError) -> Recovered {
        var info = stat()
        guard fstat(state.descriptor, &info) == 0 else { throw .io("stat \(path)", errno) }
        let fileSize = Int64(info.st_size)
        var offset: Int64 = 0
        var recovered = Recovered()
        var delivered = Set<UInt64>()
        while offset + 8 <= fileSize {
            guard let header = readExactly(state.descriptor, at: offset, count: 8) else { break }
            let length = Int(littleEndian32(header, 0))
            let checksum = littleEndian32(header, 4)
            guard length >= 9, length <= 64 << 20, offset + 8 + Int64(length) <= fileSize,
                let payload = readExactly(state.descriptor, at: offset + 8, count: length),
                CRC32.checksum(payload) == checksum, let kind = Kind(rawValue: payload[0])
            else { break }
            let sequence = littleEndian64(payload, 1)
            let body = Array(payload[9...])
            state.nextSequence = max(state.nextSequence, sequence &+ 1)
            apply(
                kind, sequence: sequence, body: body, offset: offset, length: length + 8, to: &state,
                delivered: &delivered)
            offset += 8 + Int64(length)
        }
        if offset < fileSize {
            guard ftruncate(state.descriptor, off_t(offset)) == 0 else { throw .io("truncate \(path)", errno) }
            recovered.truncatedBytes = fileSize - offset
            _ = fdatasync(state.descriptor)
        }
        state.size = offset
        for sequence in delivered { state.locations[sequence] = nil }
        state.pendingBytes = state.locations.values.reduce(0) { $0 + Int64($1.length) }
        recovered.attempts = state.order.compactMap { key in state.attempts[key].map { (key, $0) } }
        recovered.pending = state.locations.keys.sorted().compactMap { state.locations[$0]?.pending }
        return recovered
    }

    private static func apply(
        _ kind: Kind, sequence: UInt64, body: [UInt8], offset: Int64, length: Int, to state: inout State,
        delivered: inout Set<UInt64>
    ) {
        switch kind {
        case .accepted:
            guard body.count >= 4 else { return }
            let key = AttemptKey(String(decoding: body[4...], as: UTF8.self), littleEndian32(body, 0))
            if state.attempts[key] == nil { state.order.append(key) }
            state.attempts[key] = .accepted
        case .started:
            guard body.count >= 8 else { return }
            let key = AttemptKey(String(decoding: body[8...], as: UTF8.self), littleEndian32(body, 0))
            if state.attempts[key] == nil { state.order.append(key) }
            if case .ended? = state.attempts[key] { return }
            state.attempts[key] = .started(pid: Int32(bitPattern: littleEndian32(body, 4)))
        case .output:
            guard let chunk = try? Orchion_V1_LogChunk(serializedBytes: body) else { return }
            let key = AttemptKey(chunk.jobID, chunk.attempt)
            state.locations[sequence] = Location(
                offset: offset, length: length,
                pending: Pending(sequence: sequence, key: key, outputBytes: UInt64(chunk.data.count), isEnd: false))
        case .ended:
            guard let event = try? Orchion_V1_JobEvent(serializedBytes: body) else { return }
            let key = AttemptKey(event.jobID, event.attempt)
            if state.attempts[key] == nil { state.order.append(key) }
            state.attempts[key] = .ended(event)
            state.locations[sequence] = Location(
                offset: offset, length: length,
                pending: Pending(sequence: sequence, key: key, outputBytes: 0, isEnd: true))
        case .delivered:
            var index = 0
            while index + 8 <= body.count {
                delivered.insert(littleEndian64(body, index))
                index += 8
            }
        }
    }

    // MARK: Appending

    /// Records that `key` was accepted (before it starts).
    public func accepted(_ key: AttemptKey) throws(JournalError) {
        try append(.accepted, body: littleEndianBytes(key.attempt) + Array(key.jobID.utf8))
        state.withLock { state in
            if state.attempts[key] == nil { state.order.append(key) }
            state.attempts[key] = .accepted
        }
    }

    /// Records the process group `key` runs as.
    public func started(_ key: AttemptKey, pid: Int32) throws(JournalError) {
        try append(
            .started,
            body: littleEndianBytes(key.attempt) + littleEndianBytes(UInt32(bitPattern: pid)) + Array(key.jobID.utf8))
        state.withLock { state in
            if case .ended? = state.attempts[key] { return }
            state.attempts[key] = .started(pid: pid)
        }
    }

    /// Keeps a piece of output until it is delivered; returns its sequence.
    public func output(_ chunk: Orchion_V1_LogChunk) throws(JournalError) -> UInt64 {
        let body: [UInt8]
        do { body = try chunk.serializedBytes() } catch { throw .encoding("\(error)") }
        let key = AttemptKey(chunk.jobID, chunk.attempt)
        return try append(.output, body: body) { sequence in
            Pending(sequence: sequence, key: key, outputBytes: UInt64(chunk.data.count), isEnd: false)
        }
    }

    /// Keeps an attempt's end event until it is delivered; returns its sequence.
    public func ended(_ event: Orchion_V1_JobEvent) throws(JournalError) -> UInt64 {
        let body: [UInt8]
        do { body = try event.serializedBytes() } catch { throw .encoding("\(error)") }
        let key = AttemptKey(event.jobID, event.attempt)
        let sequence = try append(.ended, body: body) { sequence in
            Pending(sequence: sequence, key: key, outputBytes: 0, isEnd: true)
        }
        state.withLock { state in
            if state.attempts[key] == nil { state.order.append(key) }
            state.attempts[key] = .ended(event)
        }
        return sequence
    }

    /// Marks records delivered; their space is reclaimed by the next compaction.
    public func delivered(_ sequences: [UInt64]) throws(JournalError) {
        guard !sequences.isEmpty else { return }
        var body: [UInt8] = []
        body.reserveCapacity(sequences.count * 8)
        for sequence in sequences { body += littleEndianBytes(sequence) }
        try append(.delivered, body: body)
        state.withLock { state in
            for sequence in sequences {
                if let location = state.locations.removeValue(forKey: sequence) {
                    state.pendingBytes -= Int64(location.length)
                }
            }
        }
    }

    /// The message a pending record holds (a log chunk or a job event).
    public func message(_ sequence: UInt64) throws(JournalError) -> Orchion_V1_AgentMessage? {
        let (descriptor, location) = state.withLock { ($0.descriptor, $0.locations[sequence]) }
        guard let location else { return nil }
        guard let record = Self.readExactly(descriptor, at: location.offset, count: location.length) else {
            throw .io("read \(path) at \(location.offset)", errno)
        }
        let body = Array(record[17...])
        do {
            if location.pending.isEnd {
                let event = try Orchion_V1_JobEvent(serializedBytes: body)
                return .with { $0.jobEvent = event }
            }
            let chunk = try Orchion_V1_LogChunk(serializedBytes: body)
            return .with { $0.logChunk = chunk }
        } catch {
            throw .encoding("record \(sequence) of \(path): \(error)")
        }
    }

    /// Makes every append so far durable.
    public func sync() throws(JournalError) {
        let (descriptor, dirty) = state.withLock { state in
            defer { state.dirty = false }
            return (state.descriptor, state.dirty)
        }
        guard dirty else { return }
        guard fdatasync(descriptor) == 0 else { throw .io("fdatasync \(path)", errno) }
    }

    /// The file's size in bytes.
    public var size: Int64 { state.withLock { $0.size } }

    @discardableResult
    private func append(_ kind: Kind, body: [UInt8], pending: ((UInt64) -> Pending)? = nil) throws(JournalError)
        -> UInt64
    {
        try state.withLock { state throws(JournalError) -> UInt64 in
            let sequence = state.nextSequence
            var payload: [UInt8] = [kind.rawValue]
            payload += littleEndianBytes(sequence)
            payload += body
            let record = littleEndianBytes(UInt32(payload.count)) + littleEndianBytes(CRC32.checksum(payload)) + payload
            guard Self.writeAll(state.descriptor, record, at: state.size) else {
                let code = errno
                // Whatever part reached the file is cut off when it is next
                // opened (its checksum fails); overwrite it from the same offset.
                throw .io("append to \(path)", code)
            }
            if let pending {
                state.locations[sequence] = Location(
                    offset: state.size, length: record.count, pending: pending(sequence))
                state.pendingBytes += Int64(record.count)
            }
            state.size += Int64(record.count)
            state.nextSequence += 1
            state.dirty = true
            return sequence
        }
    }

    // MARK: Compaction

    /// Rewrites the file with only what still matters (attempts not ended,
    /// the last `rememberedEnds` ends, undelivered records) when that would
    /// shrink it by more than three quarters and 1 MiB; true if it did.
    @discardableResult
    public func compactIfUseful() throws(JournalError) -> Bool {
        let worth = state.withLock { $0.size > 1 << 20 && $0.size > 4 * ($0.pendingBytes + 64 << 10) }
        guard worth else { return false }
        try compact()
        return true
    }

    /// Rewrites the file now (see `compactIfUseful`).
    public func compact() throws(JournalError) {
        try state.withLock { state throws(JournalError) in
            let temporary = path + ".new"
            let descriptor = Glibc.open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw .io("create \(temporary)", errno) }
            var size: Int64 = 0
            var locations: [UInt64: Location] = [:]
            var ends = 0
            var kept: [AttemptKey] = []
            func write(_ kind: Kind, _ sequence: UInt64, _ body: [UInt8]) throws(JournalError) {
                var payload: [UInt8] = [kind.rawValue]
                payload += littleEndianBytes(sequence)
                payload += body
                let record =
                    littleEndianBytes(UInt32(payload.count)) + littleEndianBytes(CRC32.checksum(payload)) + payload
                guard Self.writeAll(descriptor, record, at: size) else { throw .io("write \(temporary)", errno) }
                size += Int64(record.count)
            }
            do throws(JournalError) {
                let pendingEnds = Set(state.locations.values.filter(\.pending.isEnd).map(\.pending.key))
                for key in state.order.reversed() {
                    guard let attempt = state.attempts[key] else { continue }
                    if case .ended = attempt, !pendingEnds.contains(key) {
                        ends += 1
                        if ends > Self.rememberedEnds { continue }
                    }
                    kept.append(key)
                }
                kept.reverse()
                for key in kept {
                    guard let attempt = state.attempts[key] else { continue }
                    let head = littleEndianBytes(key.attempt)
                    try write(.accepted, 0, head + Array(key.jobID.utf8))
                    switch attempt {
                    case .accepted: break
                    case .started(let pid):
                        try write(
                            .started, 0, head + littleEndianBytes(UInt32(bitPattern: pid)) + Array(key.jobID.utf8))
                    case .ended(let event):
                        if !pendingEnds.contains(key) {
                            // Delivered: an end record and its delivery, under a sequence no record uses.
                            let body: [UInt8]
                            do { body = try event.serializedBytes() } catch { throw .encoding("\(error)") }
                            let sequence = state.nextSequence
                            state.nextSequence += 1
                            try write(.ended, sequence, body)
                            try write(.delivered, 0, littleEndianBytes(sequence))
                        }
                    }
                }
                for sequence in state.locations.keys.sorted() {
                    guard let location = state.locations[sequence],
                        let record = Self.readExactly(state.descriptor, at: location.offset, count: location.length)
                    else { throw .io("read \(path) while compacting", errno) }
                    let offset = size
                    guard Self.writeAll(descriptor, record, at: size) else { throw .io("write \(temporary)", errno) }
                    size += Int64(record.count)
                    locations[sequence] = Location(offset: offset, length: location.length, pending: location.pending)
                }
                guard fsync(descriptor) == 0 else { throw .io("fsync \(temporary)", errno) }
                guard rename(temporary, path) == 0 else { throw .io("rename \(temporary) to \(path)", errno) }
            } catch {
                _ = close(descriptor)
                _ = unlink(temporary)
                throw error
            }
            let directoryDescriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directoryDescriptor >= 0 {
                _ = fsync(directoryDescriptor)
                _ = close(directoryDescriptor)
            }
            _ = close(state.descriptor)
            state.descriptor = descriptor
            state.size = size
            state.locations = locations
            state.order = kept
            state.attempts = state.attempts.filter { kept.contains($0.key) }
            state.pendingBytes = locations.values.reduce(0) { $0 + Int64($1.length) }
            state.dirty = false
        }
    }

    // MARK: Bytes

    private static func readExactly(_ descriptor: Int32, at offset: Int64, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress.map { $0 + done }, count - done, off_t(offset + Int64(done)))
            }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { return nil }
            done += read
        }
        return bytes
    }

    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int64) -> Bool {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                pwrite(
                    descriptor, buffer.baseAddress.map { $0 + done }, bytes.count - done, off_t(offset + Int64(done)))
            }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return false }
            done += written
        }
        return true
    }
}

/// A journal operation that failed.
public enum JournalError: Error, CustomStringConvertible {
    case io(String, Int32)
    case encoding(String)
    /// Another agent holds the state directory.
    case inUse(directory: String, lock: String)

    public var description: String {
        switch self {
        case .io(let what, let code): "cannot \(what): \(String(cString: strerror(code)))"
        case .encoding(let what): "cannot encode or decode a journal record: \(what)"
        case .inUse(let directory, let lock):
            "the state directory \(directory) is in use by another orchion agent (it holds \(lock)); "
                + "one agent per state directory: stop it, or give this one its own --state-dir"
        }
    }
}

func littleEndianBytes(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
func littleEndianBytes(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

func littleEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    guard at >= 0, at + 4 <= bytes.count else { return 0 }
    return (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << ($1 * 8) }
}

func littleEndian64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
    guard at >= 0, at + 8 <= bytes.count else { return 0 }
    return (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << ($1 * 8) }
}
