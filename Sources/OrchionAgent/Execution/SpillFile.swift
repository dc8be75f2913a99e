import Glibc
import OrchionCore

/// The file a job's output spills to while its consumer is behind: records
/// of `[stream: 1 byte][length: 4 bytes LE][offset: 8 bytes LE][bytes]`,
/// appended and read back in order. The file is unlinked as soon as it is
/// made, so it never outlives the agent, and is truncated whenever the
/// consumer has caught up.
///
/// Threading: one `SerialWorker` thread only (it blocks on the disk); the
/// flow hands it across as `@unchecked Sendable`, and the worker's order
/// puts every read after the writes it reads.
final class SpillFile: @unchecked Sendable {
    private let directory: String
    private var fd: Int32 = -1
    private var end: UInt64 = 0
    /// Set by the first failed write: later writes are refused too, so the
    /// records on disk are always a prefix of what was spilled.
    private var failure: Int32?

    static let headerSize = 13

    init(directory: String) {
        self.directory = directory
    }

    /// Why the spill failed.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private func open() throws(Failure) -> Int32 {
        if fd >= 0 { return fd }
        var template = Array((directory + "/orchion-spill-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        guard made >= 0 else {
            failure = errno
            throw Failure(description: "cannot create a spill file in \(directory): \(CgroupFiles.describe(errno))")
        }
        _ = fcntl(made, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { buffer in _ = buffer.baseAddress.map { unlink($0) } }
        fd = made
        return made
    }

    /// Appends `chunk` as one record.
    func append(_ chunk: OutputChunk) throws(Failure) {
        if let failure { throw Failure(description: "spill file unusable: \(CgroupFiles.describe(failure))") }
        let fd = try open()
        var record = [UInt8](repeating: 0, count: Self.headerSize)
        record[0] = chunk.stream == .stdout ? 1 : 2
        let length = UInt32(chunk.bytes.count)
        for index in 0..<4 { record[1 + index] = UInt8(truncatingIfNeeded: length >> (8 * index)) }
        for index in 0..<8 { record[5 + index] = UInt8(truncatingIfNeeded: chunk.offset >> (8 * UInt64(index))) }
        record += chunk.bytes
        var done = 0
        while done < record.count {
            let wrote = record.withUnsafeBytes { buffer in
                buffer.baseAddress.map { pwrite(fd, $0 + done, buffer.count - done, off_t(end) + off_t(done)) } ?? -1
            }
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else {
                failure = wrote < 0 ? errno : ENOSPC
                throw Failure(description: "cannot write the spill file: \(CgroupFiles.describe(failure ?? EIO))")
            }
            done += wrote
        }
        end += UInt64(record.count)
    }

    /// The record at `offset` and the offset of the next one.
    func read(at offset: UInt64) throws(Failure) -> (OutputChunk, UInt64) {
        guard fd >= 0 else { throw Failure(description: "no spill file") }
        func readFully(_ count: Int, at position: UInt64) throws(Failure) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = bytes.withUnsafeMutableBytes { buffer in
                    buffer.baseAddress.map { pread(fd, $0 + done, count - done, off_t(position) + off_t(done)) } ?? -1
                }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    throw Failure(description: "spill file ends early at byte \(position + UInt64(done))")
                }
                done += got
            }
            return bytes
        }
        let header = try readFully(Self.headerSize, at: offset)
        var length = 0
        for index in 0..<4 { length |= Int(header[1 + index]) << (8 * index) }
        var streamOffset: UInt64 = 0
        for index in 0..<8 { streamOffset |= UInt64(header[5 + index]) << (8 * UInt64(index)) }
        let bytes = try readFully(length, at: offset + UInt64(Self.headerSize))
        let chunk = OutputChunk(stream: header[0] == 1 ? .stdout : .stderr, offset: streamOffset, bytes: bytes)
        return (chunk, offset + UInt64(Self.headerSize + length))
    }

    /// Empties the file once everything in it was replayed.
    func reset() {
        guard fd >= 0, failure == nil else { return }
        _ = ftruncate(fd, 0)
        end = 0
    }

    /// Closes the file (it was unlinked when made, so its space is freed).
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
