import Glibc
import OrchionCore

/// The file a job's output spills to while its consumer is behind: records
/// of `[stream: 1 byte][length: 4 bytes LE][offset: 8 bytes LE][bytes]`,
/// appended and read back in order, many to a system call. The file is unlinked as soon as it is
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
    /// The records of one `append`, laid out for one write (reused).
    private var staging: [UInt8] = []
    private static let stagingKeptBytes = 4 << 20

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

    /// Appends `chunks` as records, in one write: how many were written
    /// whole (a prefix of `chunks`), and why the others were not. After a
    /// failure the file takes nothing more, so what it holds stays a prefix
    /// of what was spilled.
    func append(_ chunks: [OutputChunk]) -> (written: Int, failure: Failure?) {
        if let failure { return (0, Failure(description: "spill file unusable: \(CgroupFiles.describe(failure))")) }
        let fd: Int32
        do {
            fd = try open()
        } catch {
            return (0, error)
        }
        staging.removeAll(keepingCapacity: true)
        var ends: [Int] = []
        ends.reserveCapacity(chunks.count)
        for chunk in chunks {
            staging.append(chunk.stream == .stdout ? 1 : 2)
            let length = UInt32(chunk.bytes.count)
            for index in 0..<4 { staging.append(UInt8(truncatingIfNeeded: length >> (8 * index))) }
            for index in 0..<8 { staging.append(UInt8(truncatingIfNeeded: chunk.offset >> (8 * UInt64(index)))) }
            staging += chunk.bytes
            ends.append(staging.count)
        }
        var done = 0
        while done < staging.count {
            let wrote = staging.withUnsafeBytes { buffer in
                buffer.baseAddress.map { pwrite(fd, $0 + done, buffer.count - done, off_t(end) + off_t(done)) } ?? -1
            }
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else {
                failure = wrote < 0 ? errno : ENOSPC
                break
            }
            done += wrote
        }
        let whole = ends.prefix { $0 <= done }.count
        end += UInt64(whole > 0 ? ends[whole - 1] : 0)
        if staging.capacity > Self.stagingKeptBytes { staging = [] }
        guard let failure else { return (whole, nil) }
        return (whole, Failure(description: "cannot write the spill file: \(CgroupFiles.describe(failure))"))
    }

    /// Up to `limit` records from `offset`, read with one `pread` of at
    /// most `maxBytes` (a record larger than that is read alone), and the
    /// offset after them. Reads nothing past the last whole record written.
    func read(at offset: UInt64, records limit: Int, maxBytes: Int) throws(Failure) -> ([OutputChunk], UInt64) {
        guard fd >= 0 else { throw Failure(description: "no spill file") }
        guard limit > 0, end > offset else { return ([], offset) }
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
        func header(_ bytes: [UInt8], at start: Int) -> (OutputStream, Int, UInt64) {
            var length = 0
            for index in 0..<4 { length |= Int(bytes[start + 1 + index]) << (8 * index) }
            var streamOffset: UInt64 = 0
            for index in 0..<8 { streamOffset |= UInt64(bytes[start + 5 + index]) << (8 * UInt64(index)) }
            return (bytes[start] == 1 ? .stdout : .stderr, length, streamOffset)
        }
        let block = try readFully(Int(min(UInt64(max(maxBytes, Self.headerSize)), end - offset)), at: offset)
        var chunks: [OutputChunk] = []
        var cursor = 0
        while chunks.count < limit, block.count - cursor >= Self.headerSize {
            let (stream, length, streamOffset) = header(block, at: cursor)
            let start = cursor + Self.headerSize
            guard block.count - start >= length else {
                guard chunks.isEmpty else { break }
                // One record larger than a read: on its own.
                let bytes = try readFully(length, at: offset + UInt64(start))
                return (
                    [OutputChunk(stream: stream, offset: streamOffset, bytes: bytes)], offset + UInt64(start + length)
                )
            }
            chunks.append(
                OutputChunk(stream: stream, offset: streamOffset, bytes: Array(block[start..<(start + length)])))
            cursor = start + length
        }
        return (chunks, offset + UInt64(cursor))
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
