import Glibc

/// Token files: read with owner-only permissions enforced, created with a
/// fresh random token when missing.
///
/// Format: one token a line as `NAME TOKEN`, or one bare `TOKEN` line alone
/// (named "default"); blank lines and `#` comments (a whole line, or after
/// the token) are ignored. Names are letters, digits, `.`, `_`, `-`;
/// tokens are at least `minimumLength` printable ASCII characters without
/// spaces, each used once. Generated tokens are 32 random bytes in hex.
///
/// A file is refused when it is not a regular file, when group or others
/// may read or write it (mode & 077), or when another user owns it; the
/// error gives the mode found and the fix (`chmod 600 PATH`).
///
/// Threading: blocking file I/O; call off the event loop thread.
public enum TokenFile {
    /// The shortest token accepted.
    public static let minimumLength = 16
    /// The largest token file read.
    static let maxFileBytes = 1 << 20

    /// The tokens in `path`, which must exist and be owner-only.
    public static func read(_ path: String) throws(TokenFileError) -> [Token] {
        try parse(try readText(path), path: path)
    }

    /// The text of `path`, which must exist and be owner-only.
    public static func readText(_ path: String) throws(TokenFileError) -> String {
        let contents: FileText.Contents
        switch FileText.read(path, limit: maxFileBytes, inspect: { refusal(path, $0) }) {
        case .success(let read): contents = read
        case .failure(.refused(let reason)): throw TokenFileError(path: path, reason)
        case .failure(.file(.system(_, let code))) where code == ENOENT:
            throw TokenFileError(path: path, "no such file")
        case .failure(.file(let failure)): throw TokenFileError(path: path, failure.describe("the token file"))
        }
        guard let text = String(validating: contents.bytes, as: UTF8.self) else {
            throw TokenFileError(path: path, "not UTF-8 text")
        }
        return text
    }

    /// The tokens in `path`; when it does not exist, first creates it
    /// (and missing directories, mode 0700) holding one fresh token: bare
    /// when `name` is nil, else `name TOKEN`. `created` says whether this
    /// call wrote the file. The file appears whole or not at all (written
    /// to a 0600 temporary file in the same directory, then linked into
    /// place, never replacing a file another process made meanwhile).
    public static func readOrCreate(_ path: String, name: String?, comment: String) throws(TokenFileError) -> (
        tokens: [Token], created: Bool
    ) {
        var existing = stat()
        if stat(path, &existing) == 0 || errno != ENOENT { return (try read(path), false) }
        let token = try generate()
        let line = name.map { "\($0) \(token)" } ?? token
        let created = try create(path, contents: "# \(comment)\n\(line)\n")
        return (try read(path), created)
    }

    /// A fresh token: 32 bytes from the kernel's random source
    /// (`/dev/urandom`), in hex.
    public static func generate() throws(TokenFileError) -> String {
        let source = "/dev/urandom"
        let descriptor = open(source, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(source, "open the random source") }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 32)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(descriptor, buffer.baseAddress?.advanced(by: filled), buffer.count - filled)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw failure(source, "read random bytes") }
            filled += count
        }
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }

    /// The lines of `text`, split at every LF byte. By Unicode scalars, not
    /// Characters: "\r\n" is one Character, so a file with CRLF endings, or
    /// a line of CRs followed by one the server appends, would not split
    /// where it should (found by fuzzing: a file the server rewrote could no
    /// longer be read at its next start).
    static func lines(_ text: String) -> [Substring] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { Substring($0) }
    }

    /// The fields of a line before its comment: split at spaces, tabs and CRs.
    static func fields(_ line: Substring) -> [Substring] {
        Array(
            line.unicodeScalars.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map { Substring($0) }
                .prefix { !$0.hasPrefix("#") })
    }

    /// The tokens in `text` (a file's contents); `path` names it in errors.
    public static func parse(_ text: String, path: String) throws(TokenFileError) -> [Token] {
        var tokens: [Token] = []
        var lineOf: [String: Int] = [:]
        var nameLine: [String: Int] = [:]
        var bareLine: Int?
        for (index, raw) in lines(text).enumerated() {
            let number = index + 1
            let fields = Self.fields(raw)
            if fields.isEmpty { continue }
            guard fields.count <= 2 else {
                throw TokenFileError(
                    path: path, "line \(number): expected 'NAME TOKEN' or one bare TOKEN, found \(fields.count) fields")
            }
            let name = fields.count == 2 ? String(fields[fields.startIndex]) : "default"
            let secret = String(fields[fields.index(before: fields.endIndex)])
            if fields.count == 1 { bareLine = number }
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
            else {
                throw TokenFileError(
                    path: path, "line \(number): expected a name of letters, digits, '.', '_' and '-'")
            }
            guard secret.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw TokenFileError(path: path, "line \(number): expected a token of printable ASCII characters")
            }
            guard secret.utf8.count >= minimumLength else {
                throw TokenFileError(
                    path: path,
                    "line \(number): the token of '\(name)' has \(secret.utf8.count) characters, expected at least \(minimumLength) (`openssl rand -hex 32` makes one)"
                )
            }
            if let earlier = nameLine[name] {
                throw TokenFileError(
                    path: path, "line \(number): the name '\(name)' is already used on line \(earlier)")
            }
            if let earlier = lineOf[secret] {
                throw TokenFileError(path: path, "line \(number): the same token as line \(earlier)")
            }
            nameLine[name] = number
            lineOf[secret] = number
            tokens.append(Token(name: name, secret: secret))
        }
        if let bareLine, tokens.count > 1 {
            throw TokenFileError(
                path: path,
                "line \(bareLine): a bare token must be the file's only one; expected 'NAME TOKEN' with several")
        }
        guard !tokens.isEmpty else {
            throw TokenFileError(path: path, "no token: expected 'NAME TOKEN' lines or one bare TOKEN")
        }
        return tokens
    }

    /// Why a file with `status` must not be used as a token file, or nil.
    static func refusal(_ path: String, _ status: stat) -> String? {
        let owner = geteuid()
        if status.st_uid != owner {
            return
                "owned by uid \(status.st_uid), not by this user (uid \(owner)); a token file must belong to the user the server runs as: run `chown \(owner) \(path)` and `chmod 600 \(path)`"
        }
        let mode = status.st_mode & 0o7777
        guard mode & 0o077 != 0 else { return nil }
        var access: [String] = []
        for (who, shift) in [("group", UInt32(3)), ("others", UInt32(0))] {
            let bits = (mode >> shift) & 0o7
            var what: [String] = []
            if bits & 0o4 != 0 { what.append("read") }
            if bits & 0o2 != 0 { what.append("write") }
            if bits & 0o1 != 0 { what.append("execute") }
            if !what.isEmpty { access.append("\(who) may \(what.joined(separator: " and "))") }
        }
        return "mode \(octal(mode)) is not owner-only (\(access.joined(separator: ", "))): run `chmod 600 \(path)`"
    }

    /// `mode` as four octal digits, e.g. "0644".
    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Writes `contents` to a new file at `path` (mode 0600) atomically;
    /// false when another process created it first (its file is kept).
    static func create(_ path: String, contents: String) throws(TokenFileError) -> Bool {
        do throws(DurableFiles.Failure) {
            let directory = DurableFiles.parent(of: path)
            try DurableFiles.makeDirectories(directory)
            let temporary = try DurableFiles.writeTemporary(beside: path, Array(contents.utf8), mode: 0o600)
            defer { unlink(temporary) }
            if link(temporary, path) != 0 {
                if errno == EEXIST { return false }
                throw DurableFiles.Failure(path, "link \(temporary) into place")
            }
            DurableFiles.syncDirectory(directory)
            return true
        } catch {
            throw TokenFileError(path: path, error.reason)
        }
    }

    /// Replaces `path` with `contents` atomically (mode 0600). Blocking:
    /// call off the event loop.
    static func replace(_ path: String, contents: String) throws(TokenFileError) {
        do throws(DurableFiles.Failure) {
            try DurableFiles.replace(path, Array(contents.utf8), mode: 0o600)
        } catch {
            throw TokenFileError(path: path, error.reason)
        }
    }

    private static func failure(_ path: String, _ action: String) -> TokenFileError {
        TokenFileError(path: path, "cannot \(action): \(String(cString: strerror(errno)))")
    }
}
