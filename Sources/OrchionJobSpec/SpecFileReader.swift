import Glibc

/// Reads a job spec file whole, as UTF-8 text.
///
/// Threading: blocking file I/O; call off any event loop thread.
enum SpecFileReader {
    /// The text of the regular file at `path` of at most `limit` bytes, or
    /// why it cannot be had.
    static func text(of path: String, limit: Int) -> Result<String, SpecFileFailure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else {
            return .failure(SpecFileFailure("cannot open \(path): \(String(cString: strerror(errno)))"))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            return .failure(SpecFileFailure("cannot stat \(path): \(String(cString: strerror(errno)))"))
        }
        guard status.st_mode & S_IFMT != S_IFDIR else { return .failure(SpecFileFailure("\(path) is a directory")) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                return .failure(SpecFileFailure("cannot read \(path): \(String(cString: strerror(errno)))"))
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= limit else {
                return .failure(SpecFileFailure("\(path) is larger than \(limit) bytes"))
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(SpecFileFailure("\(path) is not UTF-8 text"))
        }
        return .success(text)
    }
}

/// Why a job spec file could not be read, in words naming it.
///
/// Threading: a value; safe anywhere.
struct SpecFileFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
