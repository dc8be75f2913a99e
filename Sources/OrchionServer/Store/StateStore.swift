import CSQLite
import Glibc
import Synchronization

/// The server's durable state: jobs, events, nodes, node credentials (their
/// SHA-256) and meta in one SQLite file in the state directory, in WAL mode
/// with `synchronous=FULL`, so a commit whose completion has been called
/// survives kill -9 and power loss.
///
/// Changes are committed by one writer thread ("orchion-store") with group
/// commit: every batch queued while the previous transaction ran goes into
/// the next transaction (each batch in a savepoint of its own, so a batch
/// that fails, e.g. on a duplicate request id, leaves the others alone), and
/// each batch's completion is called once that transaction's COMMIT has
/// returned. A transaction that fails (full disk, I/O error) fails every
/// batch in it; the store keeps taking later batches. The WAL is copied
/// back into the file by a second connection on a thread of its own
/// (`StoreCheckpointer`), so commits never wait for a checkpoint. One store
/// per file: an exclusive lock on `<file>.lock` refuses a second server.
///
/// Threading:
/// - `open` on any thread, before serving: it blocks (creates the directory
///   and file, migrates, reads everything).
/// - `commit` from any thread, the event loop's included: it appends to a
///   queue under a mutex and wakes the writer; it never waits on disk.
/// - Completions run on the writer thread, in commit order, each exactly
///   once. They must be quick and must not block (hop to the loop with
///   `EventLoop.execute`); `close()` called from one does not wait.
/// - `close` on any thread: it blocks until every queued batch has
///   committed and the file is closed (from a completion, on the writer
///   thread, it only asks for that). Idempotent. A store must be closed:
///   its threads keep it alive until then.
/// - `open` starts two threads: the writer ("orchion-store") and the
///   checkpointer ("orchion-ckpt"); `close` ends both.
public final class StateStore: Sendable {
    /// The newest schema version this build writes.
    public static var schemaVersion: Int { StoreSchema.migrations.count }

    /// The database file.
    public let path: String
    private let writer: StoreWriter
    private let checkpointer: StoreCheckpointer
    private let queue = Mutex(Queue())
    private let wakeup = StoreSemaphore()
    private let thread = Mutex<pthread_t?>(nil)
    private let writerThreadID = Atomic<UInt>(0)
    private let maxBatches: Int
    private let transactions = Atomic<Int>(0)
    /// The descriptor holding the lock file; the writer thread closes it
    /// after the database.
    private let lockDescriptor: Int32

    private struct Queue {
        var pending: [PendingBatch] = []
        var signalled = false
        var closing = false
    }

    private init(
        path: String, lock: Int32, writer: StoreWriter, checkpointer: StoreCheckpointer, maxBatches: Int
    ) {
        self.path = path
        self.lockDescriptor = lock
        self.writer = writer
        self.checkpointer = checkpointer
        self.maxBatches = max(1, maxBatches)
    }

    /// Opens (creating when missing) the store in `directory`: the directory
    /// is created with mode 0700, the file `options.fileName` with 0600 (an
    /// existing file is narrowed to 0600). Migrates an older schema; refuses
    /// a file from a newer Orchion, a file that is not an SQLite database
    /// or is corrupt, and a directory it cannot write, each with a
    /// `StoreError` that says so. Returns the store and everything it held.
    public static func open(
        directory: String, options: StoreOptions = StoreOptions()
    ) throws(StoreError) -> (StateStore, StoredState) {
        try open(directory: directory, options: options, migrations: StoreSchema.migrations)
    }

    /// `open` with a given migration list (tests check migrating across versions).
    static func open(
        directory: String, options: StoreOptions, migrations: [String]
    ) throws(StoreError) -> (StateStore, StoredState) {
        try StoreFiles.prepareDirectory(directory)
        let trimmed = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let path = (trimmed == "/" ? "" : trimmed) + "/" + options.fileName
        let lock = try StoreFiles.lock(path + ".lock", for: path)
        do {
            return try open(path: path, lock: lock, directory: directory, options: options, migrations: migrations)
        } catch {
            Glibc.close(lock)
            throw error
        }
    }

    private static func open(
        path: String, lock: Int32, directory: String, options: StoreOptions, migrations: [String]
    ) throws(StoreError) -> (StateStore, StoredState) {
        try StoreFiles.prepareFile(path, directory: directory)
        let database = try SQLiteDatabase(path: path)
        let state: StoredState
        let writer: StoreWriter
        do throws(StoreError) {
            sqlite3_busy_timeout(database.handle, options.busyTimeoutMillis)
            let mode = try database.text("PRAGMA journal_mode=WAL", "switch to WAL mode")
            guard mode?.lowercased() == "wal" else {
                throw StoreError.file(path: path, problem: "expected journal mode wal, SQLite kept \(mode ?? "none")")
            }
            try database.execute("PRAGMA synchronous=FULL", "set synchronous=FULL")
            // Checkpoints run on their own thread (StoreCheckpointer); the WAL
            // file is cut back to 64 MiB when SQLite restarts it.
            try database.execute("PRAGMA wal_autocheckpoint=0", "turn off automatic checkpoints")
            try database.execute("PRAGMA journal_size_limit=67108864", "limit the WAL's size")
            let version = try migrate(database, migrations: migrations)
            let retention = options.eventRetention.map { max(0, $0) }
            let pruned = try pruneAtOpen(database, retention: retention)
            state = try load(database, schemaVersion: version)
            writer = try StoreWriter(
                database: database, retention: retention, newestSequence: state.events.last?.sequence,
                prunedThrough: pruned)
        } catch {
            database.close()
            throw error
        }
        let checkpointer: StoreCheckpointer
        do {
            checkpointer = try StoreCheckpointer(path: path, busyTimeoutMillis: options.busyTimeoutMillis)
        } catch {
            writer.close()
            throw error
        }
        checkpointer.watch(database)
        let store = StateStore(
            path: path, lock: lock, writer: writer, checkpointer: checkpointer,
            maxBatches: options.maxBatchesPerTransaction)
        do {
            try store.start()
        } catch {
            checkpointer.stop()
            writer.close()
            throw error
        }
        return (store, state)
    }

    /// Commits `changes` as one batch (all or nothing) and calls `completion`
    /// on the writer thread once its transaction has committed, durably, or
    /// failed. After `close()`, `completion` is called at once, on the
    /// calling thread, with `.closed`.
    public func commit(
        _ changes: [StoreChange], completion: @escaping @Sendable (Result<CommitReport, StoreError>) -> Void
    ) {
        let batch = PendingBatch(changes: changes, enqueued: .now, completion: completion)
        let outcome = queue.withLock { queue -> (accepted: Bool, wake: Bool) in
            guard !queue.closing else { return (false, false) }
            queue.pending.append(batch)
            defer { queue.signalled = true }
            return (true, !queue.signalled)
        }
        if outcome.wake { wakeup.post() }
        if !outcome.accepted { completion(.failure(.closed)) }
    }

    /// `commit(_:completion:)` for a task: returns once the batch is durable.
    public func commit(_ changes: [StoreChange]) async throws(StoreError) -> CommitReport {
        let result = await withCheckedContinuation { continuation in
            commit(changes) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Batches queued and not yet taken by the writer (a backlog gauge).
    public var backlog: Int { queue.withLock { $0.pending.count } }

    /// Checkpoints run to the end so far (the WAL copied into the file).
    public var checkpointCount: Int { checkpointer.completedCheckpoints }

    /// Transactions attempted so far (committed or failed).
    public var transactionCount: Int { transactions.load(ordering: .relaxed) }

    /// Commits what is queued, stops the writer thread and closes the file.
    /// Blocks until then. On the writer thread (from a completion) it only
    /// asks the writer to stop after its current transaction. Calling it
    /// again does nothing.
    public func close() {
        let wake = queue.withLock { queue -> Bool in
            guard !queue.closing else { return false }
            queue.closing = true
            defer { queue.signalled = true }
            return !queue.signalled
        }
        if wake { wakeup.post() }
        let onWriter = writerThreadID.load(ordering: .acquiring) == UInt(pthread_self())
        guard
            let thread = thread.withLock({ thread -> pthread_t? in
                defer { thread = nil }
                return thread
            })
        else { return }
        // On the writer thread (a completion called close) it stops by itself.
        if onWriter {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    private func start() throws(StoreError) {
        var thread = pthread_t()
        let status = startStoreThread(&thread) { self.main() }
        if status != 0 {
            throw StoreError.sqlite(
                operation: "start the writer thread", code: status, message: String(cString: strerror(status)))
        }
        self.thread.withLock { $0 = thread }
    }

    private func main() {
        writerThreadID.store(UInt(pthread_self()), ordering: .releasing)
        nameThread("orchion-store")
        while true {
            wakeup.wait()
            while true {
                let (batches, closing) = queue.withLock { queue in
                    var taken: [PendingBatch] = []
                    if queue.pending.count <= maxBatches {
                        swap(&taken, &queue.pending)
                    } else {
                        taken = Array(queue.pending.prefix(maxBatches))
                        queue.pending.removeFirst(maxBatches)
                    }
                    if queue.pending.isEmpty { queue.signalled = false }
                    return (taken, queue.closing)
                }
                if batches.isEmpty {
                    if closing {
                        // The writer's connection closes last, so SQLite
                        // checkpoints the WAL into the file and removes it.
                        checkpointer.stop()
                        writer.close()
                        Glibc.close(lockDescriptor)
                        return
                    }
                    break
                }
                transactions.add(1, ordering: .relaxed)
                writer.commit(batches)
            }
        }
    }

    /// Brings the file to the newest schema version; returns it.
    private static func migrate(_ database: SQLiteDatabase, migrations: [String]) throws(StoreError) -> Int {
        let found = try database.integer("PRAGMA user_version", "read the schema version") ?? 0
        guard found >= 0 else {
            throw StoreError.notADatabase(
                path: database.path, detail: "schema version \(found) is not one Orchion writes")
        }
        guard found <= Int64(migrations.count) else {
            throw StoreError.newerSchema(path: database.path, found: Int(found), supported: migrations.count)
        }
        let current = Int(found)
        if current == 0 {
            let tables = try database.integer("SELECT count(*) FROM sqlite_schema", "read the schema") ?? 0
            guard tables == 0 else {
                throw StoreError.notADatabase(
                    path: database.path,
                    detail: "an SQLite database with \(tables) schema objects but no Orchion schema version")
            }
        }
        for version in current..<migrations.count {
            do {
                try database.execute("BEGIN IMMEDIATE", "begin migration to schema version \(version + 1)")
                try database.execute(migrations[version], "migrate to schema version \(version + 1)")
                try database.execute("PRAGMA user_version = \(version + 1)", "set schema version \(version + 1)")
                try database.execute("COMMIT", "commit migration to schema version \(version + 1)")
            } catch {
                if sqlite3_get_autocommit(database.handle) == 0 {
                    sqlite3_exec(database.handle, "ROLLBACK", nil, nil, nil)
                }
                throw error
            }
        }
        return migrations.count
    }

    /// Drops the events beyond retention (after the option was lowered);
    /// returns the sequence number through which events are gone.
    private static func pruneAtOpen(_ database: SQLiteDatabase, retention: Int?) throws(StoreError) -> UInt64? {
        guard let retention,
            let newest = try database.integer("SELECT max(sequence) FROM events", "read the newest event")
        else { return nil }
        let newestSequence = UInt64(bitPattern: newest)
        guard newestSequence >= UInt64(retention) else { return nil }
        let threshold = newestSequence - UInt64(retention)
        try database.execute(
            "DELETE FROM events WHERE sequence <= \(Int64(bitPattern: threshold))", "prune events beyond retention")
        return threshold
    }

    private static func load(_ database: SQLiteDatabase, schemaVersion: Int) throws(StoreError) -> StoredState {
        var state = StoredState(schemaVersion: schemaVersion)
        try rows(database, StoreSchema.selectJobs, "read jobs") { row in
            state.jobs.append(
                StoredJob(
                    id: row.text(0) ?? "", requestID: row.text(1), state: row.text(2) ?? "", order: row.uint64(3),
                    record: row.blob(4)))
        }
        try rows(database, StoreSchema.selectEvents, "read events") { row in
            state.events.append(StoredEvent(sequence: row.uint64(0), jobID: row.text(1), record: row.blob(2)))
        }
        try rows(database, StoreSchema.selectNodes, "read nodes") { row in
            state.nodes.append(StoredNode(id: row.text(0) ?? "", record: row.blob(1)))
        }
        try rows(database, StoreSchema.selectMeta, "read meta") { row in
            state.meta[row.text(0) ?? ""] = row.text(1) ?? ""
        }
        try rows(database, StoreSchema.selectNodeCredentials, "read node credentials") { row in
            state.nodeCredentials.append(
                StoredNodeCredential(
                    nodeID: row.text(0) ?? "", digest: row.text(1) ?? "", removed: row.int64(2) != 0,
                    changedAt: row.int64(3)))
        }
        return state
    }

    private static func rows(
        _ database: SQLiteDatabase, _ sql: String, _ operation: String, _ body: (SQLiteStatement) -> Void
    ) throws(StoreError) {
        let statement = try database.prepare(sql)
        defer { statement.finalize() }
        while true {
            let status = statement.step()
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw database.error(status, operation) }
            body(statement)
        }
    }
}

/// Names the calling thread (at most 15 bytes reach the kernel).
func nameThread(_ name: String) {
    let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
}

/// A batch waiting for the writer.
struct PendingBatch: Sendable {
    let changes: [StoreChange]
    let enqueued: ContinuousClock.Instant
    let completion: @Sendable (Result<CommitReport, StoreError>) -> Void
}

/// A counting semaphore for the writer's wake-ups.
/// `@unchecked Sendable`: a semaphore is made to be shared between threads.
final class StoreSemaphore: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(semaphore, 0, 0) }

    func post() { sem_post(semaphore) }

    func wait() {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }
}
