import CSQLite

/// One SQLite connection, with errors mapped to `StoreError`.
///
/// Threading: one thread at a time. Opened with `SQLITE_OPEN_NOMUTEX`: the
/// store uses it on the opening thread during `open`, then only on its
/// writer thread, and never on two at once.
final class SQLiteDatabase {
    let handle: OpaquePointer
    let path: String

    /// Opens an existing file for reading and writing.
    init(path: String) throws(StoreError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(handle)
            throw SQLiteDatabase.error(path: path, code: status, message: message, operation: "open")
        }
        sqlite3_extended_result_codes(handle, 1)
        self.handle = handle
        self.path = path
    }

    /// Runs SQL without results (one or more statements).
    func execute(_ sql: String, _ operation: @autoclosure () -> String) throws(StoreError) {
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        if status != SQLITE_OK { throw error(status, operation()) }
    }

    /// The first column of the first row of `sql`, as text (nil when no row).
    func text(_ sql: String, _ operation: @autoclosure () -> String) throws(StoreError) -> String? {
        let statement = try prepare(sql)
        defer { statement.finalize() }
        let status = statement.step()
        if status == SQLITE_ROW { return statement.text(0) }
        if status == SQLITE_DONE { return nil }
        throw error(status, operation())
    }

    /// The first column of the first row of `sql`, as an integer (nil when no row).
    func integer(_ sql: String, _ operation: @autoclosure () -> String) throws(StoreError) -> Int64? {
        let statement = try prepare(sql)
        defer { statement.finalize() }
        let status = statement.step()
        if status == SQLITE_ROW { return statement.int64(0) }
        if status == SQLITE_DONE { return nil }
        throw error(status, operation())
    }

    func prepare(_ sql: String) throws(StoreError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw error(status, "prepare \(sql.prefix(60))")
        }
        return SQLiteStatement(statement)
    }

    /// The error for `status`, with the connection's message.
    func error(_ status: Int32, _ operation: String) -> StoreError {
        SQLiteDatabase.error(
            path: path, code: status, message: String(cString: sqlite3_errmsg(handle)), operation: operation)
    }

    static func error(path: String, code: Int32, message: String, operation: String) -> StoreError {
        switch code & 0xff {
        case SQLITE_NOTADB: return .notADatabase(path: path, detail: message)
        case SQLITE_CORRUPT: return .notADatabase(path: path, detail: "corrupt: \(message)")
        default: return .sqlite(operation: operation, code: code, message: message)
        }
    }

    /// Closes the connection (finalize every statement first).
    func close() {
        sqlite3_close_v2(handle)
    }
}

/// A prepared statement, reset after each use.
///
/// Threading: that of its connection.
final class SQLiteStatement {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        var copy = value
        copy.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress {
                    _ = sqlite3_bind_text64(
                        handle, index, base, UInt64(chars.count), orchion_sqlite_transient(), UInt8(SQLITE_UTF8))
                } else {
                    _ = sqlite3_bind_text(handle, index, "", 0, orchion_sqlite_transient())
                }
            }
        }
    }

    func bind(_ index: Int32, _ value: UInt64) {
        sqlite3_bind_int64(handle, index, Int64(bitPattern: value))
    }

    func bind(_ index: Int32, _ value: [UInt8]) {
        _ = value.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress {
                sqlite3_bind_blob64(handle, index, base, UInt64(bytes.count), orchion_sqlite_transient())
            } else {
                sqlite3_bind_zeroblob(handle, index, 0)
            }
        }
    }

    /// Steps once; SQLITE_ROW, SQLITE_DONE or an error code.
    func step() -> Int32 { sqlite3_step(handle) }

    /// Steps a statement without rows to its end, then resets it.
    func run() -> Int32 {
        let status = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        return status == SQLITE_ROW ? SQLITE_DONE : status
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func uint64(_ column: Int32) -> UInt64 { UInt64(bitPattern: sqlite3_column_int64(handle, column)) }

    func blob(_ column: Int32) -> [UInt8] {
        guard let bytes = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    func finalize() { sqlite3_finalize(handle) }
}
