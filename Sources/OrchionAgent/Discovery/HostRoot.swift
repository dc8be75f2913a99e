import Glibc

/// The file system tree that discovery and telemetry read the kernel's files
/// from: "/" on a real host, a fixture directory in tests. Every `/proc`,
/// `/sys`, `/dev` and `/usr` path is read through it.
///
/// Reads use plain POSIX calls and refuse anything but regular files and
/// directories, so a FIFO or device node placed in the tree can never block
/// or be opened: device nodes (`/dev/hailo0`) are only ever looked up by
/// name. Missing or unreadable files read as nil; the callers decide what an
/// absent file means.
///
/// Threading: a value; every method blocks on file I/O, so call them off the
/// loop thread (`loop.work`, `SerialWorker`).
public struct HostRoot: Sendable, Hashable {
    /// The root directory, without a trailing slash except for "/" itself.
    public let path: String

    /// The most a single file read returns; longer files are cut here.
    /// `/proc/cpuinfo` of a 256-thread server is about 400 KiB.
    public static let readLimit = 4 << 20

    /// Creates a root at `path` ("/" for the live system).
    public init(_ path: String = "/") {
        var trimmed = path.isEmpty ? "/" : path
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.path = trimmed
    }

    /// Whether this is the live system's root.
    public var isLive: Bool { path == "/" }

    /// `absolute` (a path as seen on the host, such as "/proc/meminfo") under this root.
    public func resolve(_ absolute: String) -> String {
        if isLive { return absolute }
        return absolute.hasPrefix("/") ? path + absolute : path + "/" + absolute
    }

    /// The bytes of the regular file at `absolute`, at most `limit` of them,
    /// or nil when it is missing, not a regular file or unreadable.
    public func bytes(_ absolute: String, limit: Int = HostRoot.readLimit) -> [UInt8]? {
        let descriptor = open(resolve(absolute), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let wanted = min(chunk.count, limit - result.count)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                return result.isEmpty ? nil : result
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// The file at `absolute` as text (invalid UTF-8 replaced), or nil.
    public func text(_ absolute: String, limit: Int = HostRoot.readLimit) -> String? {
        bytes(absolute, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The file's text with surrounding whitespace and NUL bytes removed
    /// (sysfs values end in a newline, device-tree strings in a NUL); nil
    /// when missing or empty after trimming.
    public func value(_ absolute: String) -> String? {
        guard let text = text(absolute, limit: 64 << 10) else { return nil }
        let trimmed = text.kernelTrimmed
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The file's value as an unsigned integer: decimal, or hex with "0x".
    public func unsigned(_ absolute: String) -> UInt64? { value(absolute).flatMap(KernelText.parseUnsigned) }

    /// The names in the directory at `absolute`, "." and ".." left out,
    /// sorted in natural order ("card2" before "card10"); empty when it is
    /// missing or not a directory.
    public func entries(_ absolute: String) -> [String] {
        guard let directory = opendir(resolve(absolute)) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted(by: KernelText.naturalOrder)
    }

    /// Whether anything exists at `absolute` (a broken symbolic link does not).
    public func exists(_ absolute: String) -> Bool {
        var status = stat()
        return stat(resolve(absolute), &status) == 0
    }

    /// Whether `absolute` is a directory (following symbolic links).
    public func isDirectory(_ absolute: String) -> Bool {
        var status = stat()
        return stat(resolve(absolute), &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    /// The last component of the symbolic link's target at `absolute`
    /// (sysfs `driver` links name the driver this way), or nil.
    public func linkName(_ absolute: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let path = resolve(absolute)
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress.map { readlink(path, $0, pointer.count - 1) } ?? -1
        }
        guard count > 0 else { return nil }
        let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.split(separator: "/").last.map(String.init)
    }
}

/// Hand-written parsing of the kernel's text files.
///
/// Threading: pure functions; safe anywhere.
enum KernelText {
    /// "card2" before "card10": runs of digits compare as numbers.
    static func naturalOrder(_ left: String, _ right: String) -> Bool {
        let (leftName, leftNumber) = KernelText.splitTrailingNumber(left)
        let (rightName, rightNumber) = KernelText.splitTrailingNumber(right)
        if leftName != rightName || leftNumber == nil || rightNumber == nil { return left < right }
        return (leftNumber ?? 0) < (rightNumber ?? 0)
    }

    /// "card12" → ("card", 12); "renderD" → ("renderD", nil).
    static func splitTrailingNumber(_ name: String) -> (Substring, UInt64?) {
        let digits = name.reversed().prefix(while: { $0.isASCII && $0.isNumber }).count
        guard digits > 0, digits <= 18 else { return (Substring(name), nil) }
        let split = name.index(name.endIndex, offsetBy: -digits)
        return (name[..<split], UInt64(name[split...]))
    }

    /// A decimal or "0x" hexadecimal unsigned integer; nil otherwise (or on overflow).
    static func parseUnsigned(_ text: some StringProtocol) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text, radix: 10)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, newlines and NUL bytes.
    var kernelTrimmed: String {
        let isPadding: (Character) -> Bool = {
            $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\0"
        }
        guard let first = firstIndex(where: { !isPadding($0) }), let last = lastIndex(where: { !isPadding($0) })
        else { return "" }
        return String(self[first...last])
    }
}
