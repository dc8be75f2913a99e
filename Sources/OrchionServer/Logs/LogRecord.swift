/// One entry of an attempt's index (`<attempt>.idx`): which bytes of the
/// attempt's log file (`<attempt>.log`) came from which stream, at which
/// offset of that stream, and when. Records are 32 bytes, little-endian, in
/// log order, and contiguous: each starts where the previous one ended.
///
/// Layout: combined offset (u64), stream offset (u64), time in nanoseconds
/// since the epoch (i64), length (u32), stream (u8: 0 the store's own text,
/// 1 stdout, 2 stderr), flags (u8), version (u8, 1), reserved (u8, 0).
///
/// Threading: a value; safe anywhere.
struct LogRecord: Sendable, Hashable {
    static let size = 32
    static let version: UInt8 = 1

    /// The store's own text (the truncation marker).
    static let storeStream: UInt8 = 0

    /// The record is the store's truncation marker line.
    static let markerFlag: UInt8 = 1
    /// Bytes of this stream before `streamOffset` never arrived (a gap).
    static let gapFlag: UInt8 = 2
    /// The attempt finished here (length 0; `streamOffset` holds the
    /// attempt's dropped byte count).
    static let endFlag: UInt8 = 4
    static let knownFlags: UInt8 = 7

    /// Offset of the record's bytes in the log file.
    var offset: UInt64
    /// Offset of the record's bytes in their stream (dropped bytes, for an end record).
    var streamOffset: UInt64
    /// When the bytes were produced (the agent's `at`), ns since the epoch.
    var time: Int64
    var length: UInt32
    var stream: UInt8
    var flags: UInt8

    /// Where the record's bytes end in the log file.
    var end: UInt64 { offset &+ UInt64(length) }

    func encode(into out: inout [UInt8]) {
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
        }
        put(offset)
        put(streamOffset)
        put(time)
        put(length)
        out.append(stream)
        out.append(flags)
        out.append(Self.version)
        out.append(0)
    }

    /// Decodes the record at `start` of `bytes` (which holds at least 32
    /// bytes from there); nil when it is not a record this version wrote.
    static func decode(_ bytes: UnsafeRawBufferPointer, at start: Int) -> LogRecord? {
        guard start >= 0, bytes.count - start >= size else { return nil }
        func get<T: FixedWidthInteger>(_ type: T.Type, _ at: Int) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: start + at, as: T.self))
        }
        let record = LogRecord(
            offset: get(UInt64.self, 0), streamOffset: get(UInt64.self, 8), time: get(Int64.self, 16),
            length: get(UInt32.self, 24), stream: bytes[start + 28], flags: bytes[start + 29])
        guard bytes[start + 30] == version, bytes[start + 31] == 0, record.stream <= 2,
            record.flags & ~knownFlags == 0, record.offset <= UInt64.max - UInt64(record.length)
        else { return nil }
        return record
    }
}
