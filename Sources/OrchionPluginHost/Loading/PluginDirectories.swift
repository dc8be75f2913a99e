import Glibc

/// A place plugins are looked for.
public struct PluginDirectory: Sendable, Hashable, Codable {
    /// Where the directory comes from, in search order.
    public enum Source: String, Sendable, Hashable, Codable {
        /// `--plugins-dir`.
        case flag
        /// `ORCHION_PLUGINS_PATH` (colon-separated).
        case environment
        /// The per-user directory.
        case user
        /// The installed system directory, `<prefix>/lib/orchion/plugins`.
        case system
        /// The built-in plugins beside a development build of `orchion`.
        case builtin
    }

    public let path: String
    public let source: Source

    public init(path: String, source: Source) {
        self.path = path
        self.source = source
    }

    /// Whether a file name in this directory is a plugin candidate: a name
    /// ending in `.so` that does not start with a dot (so an install can copy
    /// to `.name.so` and rename). The builtin directory is a build folder
    /// shared with other files, so only `liborchion-*.so` counts there.
    /// Whatever the name denotes (symlink, FIFO, directory, ...) is judged
    /// when it is opened, and refused there with a reason, never skipped.
    public func isCandidate(_ name: String) -> Bool {
        guard name.hasSuffix(".so"), !name.hasPrefix(".") else { return false }
        return source != .builtin || name.hasPrefix("liborchion-")
    }

    /// The candidate files in this directory, sorted by name. Missing
    /// directories have none. Names that are not UTF-8 are not among them
    /// (a String cannot name them): see `undecodableCandidates()`.
    public func candidates() -> [String] {
        listing().files
    }

    /// Candidate names in this directory that are not valid UTF-8, as paths
    /// with those bytes escaped (`\xff`), sorted: they cannot be opened by
    /// name, so they are listed as refused rather than left out.
    public func undecodableCandidates() -> [String] {
        listing().undecodable
    }

    private func listing() -> (files: [String], undecodable: [String]) {
        guard let directory = opendir(path) else { return ([], []) }
        defer { closedir(directory) }
        var names: [String] = []
        var undecodable: [String] = []
        while let entry = readdir(directory) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if let name = String(validating: bytes, as: UTF8.self) {
                if isCandidate(name) { names.append(name) }
            } else {
                let escaped = Self.escaped(bytes)
                if isCandidate(escaped) { undecodable.append(escaped) }
            }
        }
        func full(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }
        return (names.sorted().map(full), undecodable.sorted().map(full))
    }

    /// `bytes` with every byte that is not printable ASCII (and the
    /// backslash) written as `\xNN`.
    static func escaped(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The search path, first match wins on duplicate names: `--plugins-dir`
    /// values, `ORCHION_PLUGINS_PATH`, the user directory, the system
    /// directory next to the executable's prefix, then the built-in plugins
    /// beside a development build.
    ///
    /// As root (`userID` 0) the environment variable and the user directory
    /// are left out unless `userDirectoriesAsRoot` is set: whoever controls
    /// root's environment or `$HOME` must not choose code that root runs.
    public static func searchPath(
        flags: [String] = [], environment: [String: String], userID: UInt32 = geteuid(),
        userDirectoriesAsRoot: Bool = false
    ) -> [PluginDirectory] {
        var result = flags.map { PluginDirectory(path: $0, source: .flag) }
        let userDirectories = userID != 0 || userDirectoriesAsRoot
        if userDirectories, let list = environment["ORCHION_PLUGINS_PATH"] {
            result += list.split(separator: ":").map { PluginDirectory(path: String($0), source: .environment) }
        }
        if userDirectories, let user = userDirectory(environment) {
            result.append(PluginDirectory(path: user, source: .user))
        }
        if let binary = executableDirectory() {
            result.append(PluginDirectory(path: parent(of: binary) + "/lib/orchion/plugins", source: .system))
            result.append(PluginDirectory(path: binary, source: .builtin))
        }
        var seen = Set<String>()
        return result.filter { seen.insert($0.path).inserted }
    }

    /// `$XDG_DATA_HOME/orchion/plugins`, else `$HOME/.local/share/orchion/plugins`.
    private static func userDirectory(_ environment: [String: String]) -> String? {
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty { return data + "/orchion/plugins" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.local/share/orchion/plugins" }
        return nil
    }

    /// The directory holding the running executable.
    public static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return parent(of: path)
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
