/// The store's schema, as migrations: `migrations[i]` takes a file from
/// schema version `i` to `i + 1` (SQLite's `PRAGMA user_version`), so a new
/// version only appends SQL here and every older file is brought forward on
/// open. Never edit a migration that has shipped.
///
/// Threading: constants; safe anywhere.
enum StoreSchema {
    static let migrations: [String] = [
        // 1: jobs, events, nodes, meta.
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY NOT NULL,
            request_id TEXT UNIQUE,
            state TEXT NOT NULL,
            ord INTEGER NOT NULL,
            record BLOB NOT NULL
        );
        CREATE TABLE events (
            sequence INTEGER PRIMARY KEY,
            job_id TEXT,
            record BLOB NOT NULL
        );
        CREATE TABLE nodes (
            id TEXT PRIMARY KEY NOT NULL,
            record BLOB NOT NULL
        );
        CREATE TABLE meta (
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL
        );
        """,
        // 2: node credentials (SHA-256 only) and removed nodes.
        """
        CREATE TABLE node_credentials (
            node_id TEXT PRIMARY KEY NOT NULL,
            digest TEXT NOT NULL,
            removed INTEGER NOT NULL,
            changed_at INTEGER NOT NULL
        );
        """,
        // 3: request ids are kept per client token (`StoredJob.requestKey`,
        // `NAME/ID`); jobs of older versions had no submitter, so theirs
        // become `/ID`, which no token's key can be.
        """
        UPDATE jobs SET request_id = '/' || request_id WHERE request_id IS NOT NULL;
        """,
    ]

    static let upsertJob = """
        INSERT INTO jobs (id, request_id, state, ord, record) VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (id) DO UPDATE SET request_id = ?2, state = ?3, ord = ?4, record = ?5
        """
    static let upsertEvent = """
        INSERT INTO events (sequence, job_id, record) VALUES (?1, ?2, ?3)
        ON CONFLICT (sequence) DO UPDATE SET job_id = ?2, record = ?3
        """
    static let upsertNode = """
        INSERT INTO nodes (id, record) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET record = ?2
        """
    static let deleteNode = "DELETE FROM nodes WHERE id = ?1"
    static let upsertNodeCredential = """
        INSERT INTO node_credentials (node_id, digest, removed, changed_at) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (node_id) DO UPDATE SET digest = ?2, removed = ?3, changed_at = ?4
        """
    static let deleteNodeCredential = "DELETE FROM node_credentials WHERE node_id = ?1"
    static let upsertMeta = """
        INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2
        """
    static let requestOwner = "SELECT id FROM jobs WHERE request_id = ?1"
    static let pruneEvents = "DELETE FROM events WHERE sequence <= ?1"
    static let selectJobs = "SELECT id, request_id, state, ord, record FROM jobs ORDER BY ord, id"
    static let selectEvents = "SELECT sequence, job_id, record FROM events ORDER BY sequence"
    static let selectNodes = "SELECT id, record FROM nodes ORDER BY id"
    static let selectMeta = "SELECT key, value FROM meta"
    static let selectNodeCredentials =
        "SELECT node_id, digest, removed, changed_at FROM node_credentials ORDER BY node_id"
}
