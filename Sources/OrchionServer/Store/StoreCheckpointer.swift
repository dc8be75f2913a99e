import CSQLite
import Glibc
import Synchronization

/// Copies the WAL back into the database file on a thread and connection
/// of its own (SQLite's passive checkpoint), so a commit only appends to the
/// WAL and fsyncs it. SQLite's automatic checkpoint would instead run
/// inside whichever commit crosses the threshold, on the writer thread,
/// and stall every batch queued behind it.
///
/// The writer's connection reports the WAL's size after each commit (its
/// WAL hook); past `thresholdPages` the checkpointer is woken. A passive
/// checkpoint never blocks the writer; SQLite restarts the WAL from its
/// beginning at the first commit after a complete one.
///
/// Threading: `request` from the writer thread (inside SQLite's WAL hook),
/// `stop` from any other thread; checkpoints run on the checkpointer's
/// thread ("orchion-ckpt") only.
final class StoreCheckpointer: Sendable {
    /// WAL pages (4 KiB each by default) that trigger a checkpoint: SQLite's
    /// own default for automatic checkpoints.
    static let thresholdPages: Int32 = 1000

    private let connection: Connection
    private let state = Mutex(State())
    private let wakeup = StoreSemaphore()
    private let thread = Mutex<pthread_t?>(nil)
    private let completed = Atomic<Int>(0)

    private struct State {
        var requested = false
        var closing = false
    }

    /// The checkpointer's connection. `@unchecked Sendable`: used on the
    /// opening thread until `start`, then only on the checkpointer's thread.
    private final class Connection: @unchecked Sendable {
        let database: SQLiteDatabase
        init(_ database: SQLiteDatabase) { self.database = database }
    }

    /// Opens a second connection to `path` and starts the thread.
    init(path: String, busyTimeoutMillis: Int32) throws(StoreError) {
        let database = try SQLiteDatabase(path: path)
        sqlite3_busy_timeout(database.handle, busyTimeoutMillis)
        connection = Connection(database)
        var thread = pthread_t()
        let status = startStoreThread(&thread) { self.main() }
        if status != 0 {
            database.close()
            throw StoreError.sqlite(
                operation: "start the checkpoint thread", code: status, message: String(cString: strerror(status)))
        }
        self.thread.withLock { $0 = thread }
    }

    /// Checkpoints that have run to the end (every WAL frame copied back).
    var completedCheckpoints: Int { completed.load(ordering: .relaxed) }

    /// Asks for a checkpoint (coalesced with one already asked for).
    func request() {
        let wake = state.withLock { state -> Bool in
            guard !state.closing, !state.requested else { return false }
            state.requested = true
            return true
        }
        if wake { wakeup.post() }
    }

    /// Stops the thread and closes its connection; waits for a checkpoint
    /// under way. Calling it again does nothing.
    func stop() {
        let wake = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            state.closing = true
            return true
        }
        if wake { wakeup.post() }
        guard
            let thread = thread.withLock({ thread -> pthread_t? in
                defer { thread = nil }
                return thread
            })
        else { return }
        pthread_join(thread, nil)
    }

    /// Registers the WAL hook on the writer's connection. The checkpointer
    /// must outlive that connection (the store holds both; the writer thread
    /// closes the connection before the store can go).
    func watch(_ writer: SQLiteDatabase) {
        sqlite3_wal_hook(
            writer.handle,
            { context, _, _, pages in
                if let context, pages >= StoreCheckpointer.thresholdPages {
                    Unmanaged<StoreCheckpointer>.fromOpaque(context).takeUnretainedValue().request()
                }
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    private func main() {
        nameThread("orchion-ckpt")
        while true {
            wakeup.wait()
            let (requested, closing) = state.withLock { state in
                defer { state.requested = false }
                return (state.requested, state.closing)
            }
            if closing { break }
            if requested {
                // A connection finds the WAL when it first reads; until then a
                // checkpoint has nothing to copy.
                _ = sqlite3_exec(connection.database.handle, "PRAGMA schema_version", nil, nil, nil)
                var logFrames: Int32 = 0
                var copiedFrames: Int32 = 0
                // A failure (a lock held past the busy timeout, an I/O error)
                // leaves the frames in the WAL: the next request retries.
                let status = sqlite3_wal_checkpoint_v2(
                    connection.database.handle, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copiedFrames)
                if status == SQLITE_OK && logFrames > 0 && copiedFrames == logFrames {
                    completed.add(1, ordering: .relaxed)
                }
            }
        }
        connection.database.close()
    }
}
