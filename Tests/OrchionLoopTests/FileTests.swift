import Foundation
import OrchionLoop
import TestSupport
import Testing

/// Real files in a fresh temporary directory, through `uv_fs` requests.
@Suite struct FileTests {
    /// Opens `path` on the loop, or throws its `FileError`.
    private static func open(_ path: String, _ mode: File.Mode, loop: EventLoop) async throws -> File {
        let result: Result<File, FileError> = try await loop.run { finish in
            File.open(path, mode: mode, loop: loop) { finish($0) }
        }
        return try result.get()
    }

    @Test func manyAppendsCalledAtOnceLandInOrderAndReadBackWhole() async throws {
        let directory = try TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }  // removed only when the test ends
        let path = directory.path + "/job.log"
        let chunks = (0..<2000).map { Array("line \($0) \(String(repeating: "x", count: $0 % 97))\n".utf8) }
        let readBack: [UInt8] = try await withLoop { loop in
            let file = try await Self.open(path, .append, loop: loop)
            let written: Result<Int, FileError> = try await loop.run { finish in
                var done = 0
                var failure: FileError?
                // All writes are called in one turn, before any has finished.
                for chunk in chunks {
                    file.write(chunk) { result in
                        if case .failure(let error) = result { failure = error }
                        done += 1
                    }
                }
                file.sync { synced in
                    file.close { closed in
                        if let failure { return finish(.failure(failure)) }
                        finish(synced.flatMap { closed }.map { done })
                    }
                }
            }
            #expect(try written.get() == 2000)
            let reader = try await Self.open(path, .read, loop: loop)
            let result: Result<[UInt8], FileError> = try await loop.run { finish in
                reader.readToEnd { bytes in reader.close { _ in finish(bytes) } }
            }
            return try result.get()
        }
        #expect(readBack == chunks.flatMap { $0 })
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(chunks.flatMap { $0 }))
    }

    @Test func writesAtOffsetsAndReadsAtOffsets() async throws {
        let directory = try TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }  // removed only when the test ends
        let path = directory.path + "/spool"
        let (middle, status): ([UInt8], FileStatus) = try await withLoop { loop in
            let file = try await Self.open(path, .readWrite, loop: loop)
            let result: Result<([UInt8], FileStatus), FileError> = try await loop.run { finish in
                file.write(Array("0123456789".utf8), at: 0)
                file.write(Array("ab".utf8), at: 4)
                file.read(at: 3, count: 4) { bytes in
                    file.status { status in
                        file.close { _ in finish(bytes.flatMap { bytes in status.map { (bytes, $0) } }) }
                    }
                }
            }
            return try result.get()
        }
        #expect(String(decoding: middle, as: UTF8.self) == "3ab6")
        #expect(status.size == 10)
        #expect(status.isRegularFile)
        #expect(status.permissions == 0o644 & ~UInt32(umaskValue()))
    }

    @Test func renameStatAndUnlinkWorkAndAMissingFileIsAnErrorNamingPathAndOperation() async throws {
        let directory = try TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }  // removed only when the test ends
        let partial = directory.path + "/spool.partial"
        let final = directory.path + "/spool.done"
        try Data("payload".utf8).write(to: URL(fileURLWithPath: partial))
        let outcome: [String] = try await withLoop { loop in
            try await loop.run { finish in
                var seen: [String] = []
                FileSystem.rename(partial, to: final, loop: loop) { renamed in
                    seen.append("rename \(renamed)")
                    FileSystem.status(final, loop: loop) { status in
                        seen.append("size \((try? status.get().size) ?? 0)")
                        FileSystem.unlink(final, loop: loop) { unlinked in
                            seen.append("unlink \(unlinked)")
                            FileSystem.status(final, loop: loop) { missing in
                                if case .failure(let error) = missing {
                                    seen.append("\(error.operation) \(error.name)")
                                }
                                File.open(partial, mode: .read, loop: loop) { opened in
                                    if case .failure(let error) = opened { seen.append("\(error)") }
                                    finish(seen)
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(outcome.count == 5)
        #expect(outcome.prefix(3) == ["rename success()", "size 7", "unlink success()"])
        #expect(outcome.dropFirst(3).first == "stat ENOENT")
        #expect(outcome.last == "open \(partial): no such file or directory (ENOENT)")
        #expect(!FileManager.default.fileExists(atPath: final))
    }

    @Test func refusedOperationsReportTheirErrorAndTheFileKeepsWorking() async throws {
        let directory = try TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }  // removed only when the test ends
        let path = directory.path + "/read-only"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: path))
        let seen: [String] = try await withLoop { loop in
            // A directory cannot be opened for writing (EISDIR, even as root).
            let directoryError: Result<File, FileError> = try await loop.run { finish in
                File.open(directory.path, mode: .append, loop: loop) { finish($0) }
            }
            let file = try await Self.open(path, .read, loop: loop)
            return try await loop.run { finish in
                var seen: [String] = []
                if case .failure(let error) = directoryError { seen.append("\(error.operation) \(error.name)") }
                file.write(Array("x".utf8)) { result in
                    if case .failure(let error) = result {
                        seen.append("\(error.operation) \(error.path == path) \(error.name)")
                    }
                }
                file.read(at: 0, count: 16) { bytes in
                    seen.append(String(decoding: (try? bytes.get()) ?? [], as: UTF8.self))
                    file.close { _ in
                        file.read(count: 1) { late in
                            if case .failure(let error) = late { seen.append("after close: \(error.name)") }
                            finish(seen)
                        }
                    }
                }
            }
        }
        #expect(seen == ["open EISDIR", "write true EBADF", "abc", "after close: EBADF"])
    }

    @Test func negativeOffsetsAndCountsAreRefusedWithEINVAL() async throws {
        let names: [String] = try await withLoop { loop in
            let file = try await Self.open("/dev/null", .readWrite, loop: loop)
            return try await loop.run { finish in
                var names: [String] = []
                file.write([1], at: -5) { result in
                    if case .failure(let error) = result { names.append("\(error.operation) \(error.name)") }
                }
                file.write([1], at: Int64.max) { result in
                    if case .failure(let error) = result { names.append("\(error.operation) \(error.name)") }
                }
                file.read(at: 0, count: -1) { result in
                    if case .failure(let error) = result { names.append("\(error.operation) \(error.name)") }
                    file.close { _ in finish(names) }
                }
            }
        }
        #expect(names == ["write EINVAL", "write EINVAL", "read EINVAL"])
    }

    @Test func readToEndRefusesAFileOverItsLimit() async throws {
        let directory = try TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }  // removed only when the test ends
        let path = directory.path + "/big"
        try Data(repeating: 7, count: 200_000).write(to: URL(fileURLWithPath: path))
        let error: FileError? = try await withLoop { loop in
            let file = try await Self.open(path, .read, loop: loop)
            return try await loop.run { finish in
                file.readToEnd(limit: 100_000) { result in
                    file.close { _ in
                        if case .failure(let error) = result { finish(error) } else { finish(nil) }
                    }
                }
            }
        }
        #expect(error?.name == "EFBIG")
        #expect(error?.path == path)
    }
}

/// A fresh directory, removed with everything in it when the value goes
/// (keep it alive to the end of the test with `withExtendedLifetime`).
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = try Paths.temporaryDirectory("orchion-file").path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The process's umask, from /proc/self/status (reading it with umask(2)
/// would change it for a moment under the other tests).
private func umaskValue() -> mode_t {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") }
    return line.flatMap { mode_t($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0o022
}
