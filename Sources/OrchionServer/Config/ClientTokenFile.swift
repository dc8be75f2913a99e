import Glibc
import OrchionWire

/// One client token as the client tokens file keeps it.
///
/// Threading: a value; safe anywhere.
public struct ClientTokenEntry: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    /// SHA-256 of the secret (32 bytes).
    public var digest: [UInt8]
    public var scope: Scope
    /// Seconds since 1970; nil when the line has none.
    public var created: Int64?
    /// Seconds since 1970 from which the token is refused; nil: never.
    public var expires: Int64?
    /// The secret's first characters (`ClientTokenFile.prefixLength`), to
    /// tell tokens apart; nil when unknown.
    public var prefix: String?
    /// The secret itself, only for a line of an older version that kept
    /// it in clear (rewritten hashed at the next start or change). Never log it.
    public var legacySecret: String?

    public init(
        name: String, digest: [UInt8], scope: Scope, created: Int64? = nil, expires: Int64? = nil,
        prefix: String? = nil, legacySecret: String? = nil
    ) {
        self.name = name
        self.digest = digest
        self.scope = scope
        self.created = created
        self.expires = expires
        self.prefix = prefix
        self.legacySecret = legacySecret
    }

    /// What the `Authenticator` accepts for it.
    public var credential: ClientCredential {
        ClientCredential(name: name, digest: digest, scope: scope, expires: expires)
    }

    /// Whether it has expired at `now` (seconds since 1970).
    public func isExpired(at now: Int64) -> Bool { expires.map { now >= $0 } ?? false }

    public var description: String { "client token '\(name)' (scope \(scope.name); hidden)" }
}

/// The client tokens file's format: one token a line,
///
///     NAME sha256:HEX  # scope=admin created=2026-11-29T16:40:00Z expires=2026-11-30T16:40:00Z prefix=3f9a0c
///
/// where HEX is the SHA-256 of the secret (the secret itself is never
/// kept); `expires=` is left out for a token that does not expire,
/// `prefix=` is the secret's first 6 characters (24 of its 256 bits: it
/// tells generated tokens apart and does not weaken them). Lines of older
/// versions, `NAME SECRET` (or one bare `SECRET`) with at most `created=`,
/// are accepted as `admin` tokens that never expire (they could do
/// everything then), and `rewritten` turns them into hashed lines without
/// a prefix: such a secret may have been written by hand, and 6 of its
/// characters could help guess the rest from the digest (found by attack).
///
/// A `scope=` or `expires=` that cannot be read makes the file unusable
/// (an error naming the line), never a token with more rights than meant.
///
/// Threading: pure; safe anywhere.
public enum ClientTokenFile {
    /// How many characters of a secret `prefix=` keeps.
    public static let prefixLength = 6
    static let hashPrefix = "sha256:"

    /// The entries of a client tokens file's `text`; `path` names it in errors.
    public static func parse(_ text: String, path: String) throws(TokenFileError) -> [ClientTokenEntry] {
        let tokens = try TokenFile.parse(text, path: path)
        var attributes: [String: (number: Int, text: Substring)] = [:]
        for (index, line) in TokenFile.lines(text).enumerated() {
            let fields = TokenFile.fields(line)
            guard !fields.isEmpty, let hash = line.firstIndex(of: "#") else { continue }
            let name = fields.count == 2 ? String(fields[0]) : "default"
            attributes[name] = (index + 1, line[line.index(after: hash)...])
        }
        var entries: [ClientTokenEntry] = []
        var digests: Set<[UInt8]> = []
        for token in tokens {
            var entry: ClientTokenEntry
            if let digest = digest(token.secret) {
                entry = ClientTokenEntry(name: token.name, digest: digest, scope: .admin)
            } else if token.secret.hasPrefix(hashPrefix) {
                throw TokenFileError(
                    path: path, "the token of '\(token.name)': expected sha256: and 64 hex digits after it")
            } else {
                entry = ClientTokenEntry(
                    name: token.name, digest: TokenDigest.sha256(token.secret.utf8), scope: .admin,
                    legacySecret: token.secret)
            }
            if let (number, text) = attributes[token.name] {
                try apply(text, to: &entry, line: number, path: path)
            }
            guard digests.insert(entry.digest).inserted else {
                throw TokenFileError(path: path, "the token of '\(token.name)' is the same as an earlier one")
            }
            entries.append(entry)
        }
        return entries
    }

    /// Reads `scope=`, `created=`, `expires=` and `prefix=` from a line's comment.
    private static func apply(_ comment: Substring, to entry: inout ClientTokenEntry, line: Int, path: String)
        throws(TokenFileError)
    {
        for attribute in comment.unicodeScalars.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            .map({ Substring($0) })
        {
            guard let equals = attribute.firstIndex(of: "=") else { continue }
            let key = attribute[..<equals]
            let value = attribute[attribute.index(after: equals)...]
            switch key {
            case "scope":
                guard let scope = Scope(name: value) else {
                    throw TokenFileError(
                        path: path, "line \(line): scope=\(value.prefix(32)): expected join, read, submit or admin")
                }
                entry.scope = scope
            case "expires":
                guard let seconds = seconds(iso8601: value) else {
                    throw TokenFileError(
                        path: path, "line \(line): expires=\(value.prefix(32)): expected YYYY-MM-DDTHH:MM:SSZ")
                }
                entry.expires = seconds
            case "created":
                entry.created = seconds(iso8601: value)
            case "prefix" where entry.legacySecret == nil:
                let characters = value.prefix(prefixLength)
                if characters.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { entry.prefix = String(characters) }
            default:
                continue
            }
        }
    }

    /// The line that keeps `entry` (hashed; never the secret).
    public static func line(_ entry: ClientTokenEntry) -> String {
        var attributes = ["scope=\(entry.scope.name)"]
        if let created = entry.created { attributes.append("created=\(iso8601(created))") }
        if let expires = entry.expires { attributes.append("expires=\(iso8601(expires))") }
        if let prefix = entry.prefix { attributes.append("prefix=\(prefix)") }
        return "\(entry.name) \(hashPrefix)\(hex(entry.digest))  # \(attributes.joined(separator: " "))"
    }

    /// `text` with every token line written as `line(_:)` (legacy lines
    /// hashed, a bare token named `default`) and other lines (comments,
    /// blank lines) kept; `entries` as `parse` gave them.
    public static func rewritten(_ text: String, entries: [ClientTokenEntry]) -> String {
        var byName: [String: ClientTokenEntry] = [:]
        for entry in entries { byName[entry.name] = entry }
        var lines: [String] = []
        for raw in TokenFile.lines(text) {
            let fields = TokenFile.fields(raw)
            guard !fields.isEmpty else {
                lines.append(String(raw))
                continue
            }
            let name = fields.count == 2 ? String(fields[0]) : "default"
            if let entry = byName[name] { lines.append(line(entry)) }
        }
        while lines.last == "" { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The 32 bytes of `sha256:HEX`, or nil when `field` is not that.
    static func digest(_ field: String) -> [UInt8]? {
        guard field.hasPrefix(hashPrefix) else { return nil }
        let digits = Array(field.utf8.dropFirst(hashPrefix.utf8.count))
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for pair in stride(from: 0, to: 64, by: 2) {
            guard let high = nibble(digits[pair]), let low = nibble(digits[pair + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }

    /// `seconds` since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
    public static func iso8601(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return String(seconds) }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(parts.tm_year + 1900)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year + "-\(two(parts.tm_mon + 1))-"
            + "\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` as seconds since 1970; nil for anything else.
    public static func seconds(iso8601 text: Substring) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54, bytes[13] == 0x3A,
            bytes[16] == 0x3A, bytes[19] == 0x5A
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[range] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int32(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int64(timegm(&parts))
    }
}
