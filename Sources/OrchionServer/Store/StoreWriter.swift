import CSQLite

/// The writer thread's side of the store: the connection, its prepared
/// statements (reused across transactions), and event retention.
///
/// Threading: built during `StateStore.open`, then used only on the store's
/// writer thread. `@unchecked Sendable` for that hand-over.
final class StoreWriter: @unchecked Sendable {
    private let database: SQLiteDatabase
    private let begin: SQLiteStatement
    private let commitStatement: SQLiteStatement
    private let savepoint: SQLiteStatement
    private let release: SQLiteStatement
    private let rollbackTo: SQLiteStatement
    private let putJob: SQLiteStatement
    private let putEvent: SQLiteStatement
    private let putNode: SQLiteStatement
    private let deleteNode: SQLiteStatement
    private let setMeta: SQLiteStatement
    private let putNodeCredential: SQLiteStatement
    private let deleteNodeCredential: SQLiteStatement
    private let requestOwner: SQLiteStatement
    private let prune: SQLiteStatement
    private var statements: [SQLiteStatement] {
        [
            begin, commitStatement, savepoint, release, rollbackTo, putJob, putEvent, putNode, deleteNode, setMeta,
            requestOwner, prune, putNodeCredential, deleteNodeCredential,
        ]
    }
    private let retention: Int?
    /// The highest event sequence number committed.
    private var newestSequence: UInt64?
    /// Events with sequence numbers up to this one have been pruned.
    private var prunedThrough: UInt64?
    private var closed = false

    init(database: SQLiteDatabase, retention: Int?, newestSequence: UInt64?, prunedThrough: UInt64?) throws(StoreError)
    {
        self.database = database
        self.retention = retention
        self.newestSequence = newestSequence
        self.prunedThrough = prunedThrough
        var prepared: [SQLiteStatement] = []
        do {
            for sql in [
                "BEGIN IMMEDIATE", "COMMIT", "SAVEPOINT batch", "RELEASE batch", "ROLLBACK TO batch",
                StoreSchema.upsertJob, StoreSchema.upsertEvent, StoreSchema.upsertNode, StoreSchema.deleteNode,
                StoreSchema.upsertMeta, StoreSchema.requestOwner, StoreSchema.pruneEvents,
                StoreSchema.upsertNodeCredential, StoreSchema.deleteNodeCredential,
            ] {
                prepared.append(try database.prepare(sql))
            }
        } catch {
            for statement in prepared { statement.finalize() }
            throw error
        }
        (begin, commitStatement, savepoint, release, rollbackTo) = (
            prepared[0], prepared[1], prepared[2], prepared[3], prepared[4]
        )
        (putJob, putEvent, putNode, deleteNode, setMeta, requestOwner, prune) = (
            prepared[5], prepared[6], prepared[7], prepared[8], prepared[9], prepared[10], prepared[11]
        )
        (putNodeCredential, deleteNodeCredential) = (prepared[12], prepared[13])
    }

    /// Runs `batches` in one transaction and calls each one's completion.
    func commit(_ batches: [PendingBatch]) {
        let start = ContinuousClock.now
        var outcomes: [StoreError?] = Array(repeating: nil, count: batches.count)
        var newest = newestSequence
        var committedChanges = 0
        var committedBatches = 0
        do throws(StoreError) {
            try run(begin, "begin a transaction")
            for (index, batch) in batches.enumerated() {
                do throws(StoreError) {
                    try run(savepoint, "open a savepoint")
                    var batchNewest = newest
                    for change in batch.changes { try apply(change, newest: &batchNewest) }
                    try run(release, "release a savepoint")
                    newest = batchNewest
                    committedChanges += batch.changes.count
                    committedBatches += 1
                } catch {
                    outcomes[index] = error
                    // A full disk or an I/O error can end the whole transaction.
                    guard inTransaction else { throw error }
                    try run(rollbackTo, "roll back a failed batch")
                    try run(release, "release a rolled back savepoint")
                }
            }
            var pruned = prunedThrough
            if let retention, let newest, newest >= UInt64(retention) {
                let threshold = newest - UInt64(retention)
                if pruned.map({ threshold > $0 }) ?? true {
                    prune.bind(1, threshold)
                    try run(prune, "prune events beyond retention")
                    pruned = threshold
                }
            }
            try run(commitStatement, "commit")
            newestSequence = newest
            prunedThrough = pruned
        } catch {
            if inTransaction { sqlite3_exec(database.handle, "ROLLBACK", nil, nil, nil) }
            for (index, batch) in batches.enumerated() { batch.completion(.failure(outcomes[index] ?? error)) }
            return
        }
        let end = ContinuousClock.now
        let seconds = Self.seconds(end - start)
        var first = true
        for (index, batch) in batches.enumerated() {
            if let error = outcomes[index] {
                batch.completion(.failure(error))
            } else {
                batch.completion(
                    .success(
                        CommitReport(
                            transactionSeconds: seconds, waitSeconds: Self.seconds(end - batch.enqueued),
                            batches: committedBatches, changes: committedChanges, firstOfTransaction: first)))
                first = false
            }
        }
    }

    /// Finalizes the statements and closes the file (SQLite checkpoints the
    /// WAL into it). Calling it again does nothing.
    func close() {
        guard !closed else { return }
        closed = true
        for statement in statements { statement.finalize() }
        database.close()
    }

    private var inTransaction: Bool { sqlite3_get_autocommit(database.handle) == 0 }

    private func apply(_ change: StoreChange, newest: inout UInt64?) throws(StoreError) {
        switch change {
        case .putJob(let job):
            putJob.bind(1, job.id)
            putJob.bind(2, job.requestID)
            putJob.bind(3, job.state)
            putJob.bind(4, job.order)
            putJob.bind(5, job.record)
            do {
                try run(putJob, "put job \(job.id)")
            } catch {
                if case .sqlite(_, sqliteConstraintUnique, _) = error, let requestID = job.requestID {
                    requestOwner.bind(1, requestID)
                    let owner = requestOwner.step() == SQLITE_ROW ? requestOwner.text(0) : nil
                    requestOwner.reset()
                    if let owner, owner != job.id {
                        throw .duplicateRequestID(requestID: requestID, jobID: job.id, existingJobID: owner)
                    }
                }
                throw error
            }
        case .putEvent(let event):
            putEvent.bind(1, event.sequence)
            putEvent.bind(2, event.jobID)
            putEvent.bind(3, event.record)
            try run(putEvent, "put event \(event.sequence)")
            newest = max(newest ?? event.sequence, event.sequence)
        case .putNode(let node):
            putNode.bind(1, node.id)
            putNode.bind(2, node.record)
            try run(putNode, "put node \(node.id)")
        case .deleteNode(let id):
            deleteNode.bind(1, id)
            try run(deleteNode, "delete node \(id)")
        case .setMeta(let key, let value):
            setMeta.bind(1, key)
            setMeta.bind(2, value)
            try run(setMeta, "set meta \(key)")
        case .putNodeCredential(let credential):
            putNodeCredential.bind(1, credential.nodeID)
            putNodeCredential.bind(2, credential.digest)
            putNodeCredential.bind(3, UInt64(credential.removed ? 1 : 0))
            putNodeCredential.bind(4, UInt64(bitPattern: credential.changedAt))
            try run(putNodeCredential, "put the credential of node \(credential.nodeID)")
        case .deleteNodeCredential(let id):
            deleteNodeCredential.bind(1, id)
            try run(deleteNodeCredential, "delete the credential of node \(id)")
        }
    }

    /// Steps a statement to its end and resets it; the error carries
    /// SQLite's message, read before the reset.
    private func run(_ statement: SQLiteStatement, _ operation: @autoclosure () -> String) throws(StoreError) {
        let status = statement.step()
        if status == SQLITE_DONE || status == SQLITE_ROW {
            statement.reset()
            return
        }
        let error = database.error(status, operation())
        statement.reset()
        throw error
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// SQLITE_CONSTRAINT_UNIQUE (a macro Swift does not import).
let sqliteConstraintUnique: Int32 = SQLITE_CONSTRAINT | (8 << 8)
