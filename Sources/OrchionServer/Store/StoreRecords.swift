/// A job's row: the keys the store indexes, and the server's encoded record.
///
/// The store does not look inside `record`; the server encodes it.
///
/// Threading: a value; safe anywhere.
public struct StoredJob: Sendable, Hashable {
    /// The job's id (the primary key).
    public var id: String
    /// `SubmitJob`'s idempotency key as `requestKey` makes it (per client
    /// token); unique among jobs when set.
    public var requestID: String?
    /// The lifecycle state's name (e.g. "pending"), for operators reading the file.
    public var state: String
    /// Submission order: jobs come back from `open` sorted by it.
    public var order: UInt64
    /// The server's encoding of the whole job.
    public var record: [UInt8]

    public init(id: String, requestID: String?, state: String, order: UInt64, record: [UInt8]) {
        self.id = id
        self.requestID = requestID
        self.state = state
        self.order = order
        self.record = record
    }

    /// Where a `request_id` is unique: per client token, so one token's id
    /// never answers another's submission with its job (found by attack: a
    /// token could take another's idempotency key first and hand it a job of
    /// its own). `NAME/ID`; token names are never empty and hold no '/', so
    /// the jobs of older versions, which have no submitter (`/ID`, schema
    /// migration 3), and every token have keys of their own.
    public static func requestKey(_ requestID: String, submittedBy: String?) -> String {
        (submittedBy ?? "") + "/" + requestID
    }

    /// The `request_id` a `requestKey` was made from (all after the first '/').
    public static func requestID(fromKey key: String) -> String {
        guard let slash = key.firstIndex(of: "/") else { return key }
        return String(key[key.index(after: slash)...])
    }
}

/// An event of the event stream, kept for resuming with `after=`.
///
/// Threading: a value; safe anywhere.
public struct StoredEvent: Sendable, Hashable {
    /// The event's sequence number (the primary key). Stored as SQLite's
    /// signed 64-bit integer: numbers above `Int64.max` do not sort.
    public var sequence: UInt64
    /// The job it is about, if any.
    public var jobID: String?
    /// The server's encoding of the event.
    public var record: [UInt8]

    public init(sequence: UInt64, jobID: String?, record: [UInt8]) {
        self.sequence = sequence
        self.jobID = jobID
        self.record = record
    }

    /// Where a `request_id` is unique: per client token, so one token's id
    /// never answers another's submission with its job (found by attack: a
    /// token could take another's idempotency key first and hand it a job of
    /// its own). `NAME/ID`; token names are never empty and hold no '/', so
    /// the jobs of older versions, which have no submitter (`/ID`, schema
    /// migration 3), and every token have keys of their own.
    public static func requestKey(_ requestID: String, submittedBy: String?) -> String {
        (submittedBy ?? "") + "/" + requestID
    }

    /// The `request_id` a `requestKey` was made from (all after the first '/').
    public static func requestID(fromKey key: String) -> String {
        guard let slash = key.firstIndex(of: "/") else { return key }
        return String(key[key.index(after: slash)...])
    }
}

/// A node's operator state (cordon, drain) and last registration.
///
/// Threading: a value; safe anywhere.
public struct StoredNode: Sendable, Hashable {
    /// The node's id (the primary key).
    public var id: String
    /// The server's encoding of what it keeps about the node.
    public var record: [UInt8]

    public init(id: String, record: [UInt8]) {
        self.id = id
        self.record = record
    }

    /// Where a `request_id` is unique: per client token, so one token's id
    /// never answers another's submission with its job (found by attack: a
    /// token could take another's idempotency key first and hand it a job of
    /// its own). `NAME/ID`; token names are never empty and hold no '/', so
    /// the jobs of older versions, which have no submitter (`/ID`, schema
    /// migration 3), and every token have keys of their own.
    public static func requestKey(_ requestID: String, submittedBy: String?) -> String {
        (submittedBy ?? "") + "/" + requestID
    }

    /// The `request_id` a `requestKey` was made from (all after the first '/').
    public static func requestID(fromKey key: String) -> String {
        guard let slash = key.firstIndex(of: "/") else { return key }
        return String(key[key.index(after: slash)...])
    }
}

/// What the server keeps of a node's credential: its SHA-256, never the
/// credential, and whether the node was removed (a tombstone: the id may
/// not join again until it is admitted).
///
/// Threading: a value; safe anywhere.
public struct StoredNodeCredential: Sendable, Hashable {
    /// The node's id (the primary key).
    public var nodeID: String
    /// Lower-case hex of the credential's SHA-256 (the last one, for a
    /// removed node); empty when the node never got one.
    public var digest: String
    /// The node was removed (`orchion node remove`) and not admitted since.
    public var removed: Bool
    /// When this row last changed, in milliseconds since the Unix epoch.
    public var changedAt: Int64

    public init(nodeID: String, digest: String, removed: Bool, changedAt: Int64) {
        self.nodeID = nodeID
        self.digest = digest
        self.removed = removed
        self.changedAt = changedAt
    }
}

/// One change to the store. A batch of them commits all or nothing.
///
/// Threading: a value; safe anywhere.
public enum StoreChange: Sendable, Hashable {
    /// Inserts the job or replaces the row with its id.
    case putJob(StoredJob)
    /// Inserts the event or replaces the row with its sequence number.
    case putEvent(StoredEvent)
    /// Inserts the node or replaces the row with its id.
    case putNode(StoredNode)
    /// Deletes the node with this id (nothing when there is none).
    case deleteNode(String)
    /// Sets a meta key to a value.
    case setMeta(String, String)
    /// Inserts the node credential row or replaces the row of its node.
    case putNodeCredential(StoredNodeCredential)
    /// Deletes the node credential row of this node id (nothing when there is none).
    case deleteNodeCredential(String)
}

/// Everything the store held when it was opened.
///
/// Threading: a value; safe anywhere.
public struct StoredState: Sendable, Hashable {
    /// Every job, by submission order (then id).
    public var jobs: [StoredJob]
    /// The retained events, by sequence number.
    public var events: [StoredEvent]
    /// Every node, by id.
    public var nodes: [StoredNode]
    /// The meta keys and values.
    public var meta: [String: String]
    /// Every node credential and removed node, by node id.
    public var nodeCredentials: [StoredNodeCredential]
    /// The file's schema version (after migrations: `StateStore.schemaVersion`).
    public var schemaVersion: Int

    public init(
        jobs: [StoredJob] = [], events: [StoredEvent] = [], nodes: [StoredNode] = [], meta: [String: String] = [:],
        nodeCredentials: [StoredNodeCredential] = [], schemaVersion: Int = 0
    ) {
        self.jobs = jobs
        self.events = events
        self.nodes = nodes
        self.meta = meta
        self.nodeCredentials = nodeCredentials
        self.schemaVersion = schemaVersion
    }
}

/// What one transaction carried and cost, given to each batch it committed
/// (the server's metrics: commit latency, commit batch size).
///
/// Threading: a value; safe anywhere.
public struct CommitReport: Sendable, Hashable {
    /// Seconds from BEGIN until COMMIT returned (durable), fsync included.
    public var transactionSeconds: Double
    /// Seconds from this batch's `commit` call until its COMMIT returned.
    public var waitSeconds: Double
    /// Batches committed by the transaction (1 without grouping).
    public var batches: Int
    /// Changes committed by the transaction, all batches together.
    public var changes: Int
    /// Whether this is the report of the transaction's first committed batch:
    /// count the transaction's time and size once, on that report.
    public var firstOfTransaction: Bool

    public init(
        transactionSeconds: Double, waitSeconds: Double, batches: Int, changes: Int, firstOfTransaction: Bool = true
    ) {
        self.transactionSeconds = transactionSeconds
        self.waitSeconds = waitSeconds
        self.batches = batches
        self.changes = changes
        self.firstOfTransaction = firstOfTransaction
    }
}

/// How the store is opened.
///
/// Threading: a value; safe anywhere.
public struct StoreOptions: Sendable, Hashable {
    /// The database's file name inside the state directory.
    public var fileName = "orchion.db"
    /// How many events to keep: those whose sequence number is among the
    /// newest `eventRetention` numbers (exactly the newest N when sequence
    /// numbers are consecutive). nil keeps every event.
    public var eventRetention: Int? = 100_000
    /// How long a statement waits for another connection's lock, in milliseconds.
    public var busyTimeoutMillis: Int32 = 5_000
    /// The most batches one transaction carries. The default groups every
    /// batch queued while the previous transaction ran; 1 commits each batch
    /// on its own (the benchmark's baseline).
    public var maxBatchesPerTransaction = Int.max

    public init() {}
}
