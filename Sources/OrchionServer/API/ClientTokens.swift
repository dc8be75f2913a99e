import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire
import SwiftProtobuf
import Synchronization

/// The clients' API tokens as the control API manages them (`CreateToken`,
/// `ListTokens`, `RevokeToken`): kept in the client tokens file, which each
/// change rewrites atomically (a 0600 temporary file renamed over it), and
/// handed to the `Authenticator`, so a revoked token is refused from the
/// next call on.
///
/// Each token line may carry attributes in its comment, as
/// `NAME TOKEN  # created=2026-11-29T16:40:00Z`; `TokenFile` ignores
/// comments, so the file stays one the server reads at start. Later
/// attributes (scopes, expiry) go the same way. Every change re-reads the
/// file first, so a line added by hand is kept (and accepted from then on).
///
/// Threading: `create`, `list` and `revoke` do blocking file I/O: call them
/// off the event loop (the control API runs them on the loop's thread
/// pool). Changes are serialized by a lock, so two at once never lose one.
final class ClientTokens: Sendable {
    /// The client tokens file.
    let path: String
    private let authenticator: Authenticator
    private let join: String
    private let lock = Mutex(())
    /// How many characters of a secret `TokenInfo.prefix` shows.
    static let prefixLength = 6
    /// The most client tokens the file holds: well under what fits the
    /// 1 MiB the server reads at start (`TokenFile.maxFileBytes`), so no
    /// client can create its way to a server that no longer starts.
    static let maxTokens = 1_000

    init(path: String, authenticator: Authenticator, joinSecret: String) {
        self.path = path
        self.authenticator = authenticator
        join = joinSecret
    }

    /// One token line of the file.
    struct Entry: Sendable {
        var name: String
        var secret: String
        /// Seconds since 1970, from `created=`; nil when the line has none.
        var created: Int64?

        var info: Orchion_V1_TokenInfo {
            .with {
                $0.name = name
                $0.prefix = String(secret.prefix(ClientTokens.prefixLength))
                if let created { $0.createdAt = Google_Protobuf_Timestamp(seconds: created) }
            }
        }
    }

    /// The tokens in the file, in file order.
    func list() throws(RPCError) -> [Entry] {
        try lock.withLock { _ throws(RPCError) in try read().entries }
    }

    /// Adds a fresh token named `name`; answers it with its secret.
    func create(name: String) throws(RPCError) -> Orchion_V1_CreatedToken {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        else {
            throw RPCError(
                .invalidArgument,
                "name: expected 1 to 64 letters, digits, '.', '_' or '-', found '\(name.prefix(utf8Bytes: 64))'")
        }
        return try lock.withLock { _ throws(RPCError) in
            let (text, entries) = try read()
            guard !entries.contains(where: { $0.name == name }) else {
                throw RPCError(.alreadyExists, "a client token named '\(name)' already exists")
            }
            guard entries.count < Self.maxTokens else {
                throw RPCError(
                    .resourceExhausted, "\(entries.count) client tokens: revoke one first (at most \(Self.maxTokens))")
            }
            let secret: String
            do throws(TokenFileError) {
                secret = try TokenFile.generate()
            } catch {
                throw RPCError(.internal, "cannot make a token: \(error.message)")
            }
            let created = Int64(time(nil))
            var lines = Self.namedLines(text)
            if lines.last == "" { lines.removeLast() }
            lines.append("\(name) \(secret)  # created=\(Self.iso8601(created))")
            try write(lines.joined(separator: "\n") + "\n")
            return .with {
                $0.info = Entry(name: name, secret: secret, created: created).info
                $0.secret = secret
            }
        }
    }

    /// Removes the token named `name`; answers what it was. The last token
    /// cannot be removed (a server with none could not be managed, nor start).
    func revoke(name: String) throws(RPCError) -> Orchion_V1_TokenInfo {
        try lock.withLock { _ throws(RPCError) in
            let (text, entries) = try read()
            guard let entry = entries.first(where: { $0.name == name }) else {
                throw RPCError(.notFound, "client token '\(name.prefix(utf8Bytes: 64))' not found")
            }
            guard entries.count > 1 else {
                throw RPCError(
                    .failedPrecondition,
                    "'\(name)' is the only client token: create another first (`orchion token create NAME`)")
            }
            let kept = Self.namedLines(text).filter { Self.fields($0).first != name }
            try write(kept.joined(separator: "\n"))
            return entry.info
        }
    }

    /// The file's text and tokens; also hands the tokens to the
    /// authenticator (so a line added by hand counts from here on).
    private func read() throws(RPCError) -> (text: String, entries: [Entry]) {
        let text: String
        switch FileText.read(path, limit: TokenFile.maxFileBytes, inspect: { TokenFile.refusal(path, $0) }) {
        case .success(let contents):
            guard let decoded = String(validating: contents.bytes, as: UTF8.self) else {
                throw RPCError(.failedPrecondition, "the client tokens file \(path) is not UTF-8 text")
            }
            text = decoded
        case .failure(.refused(let reason)):
            throw RPCError(.failedPrecondition, "the client tokens file \(path) cannot be used: \(reason)")
        case .failure(.file(let failure)):
            throw RPCError(.failedPrecondition, failure.describe(path))
        }
        let tokens: [Token]
        do throws(TokenFileError) {
            tokens = try TokenFile.parse(text, path: path)
        } catch {
            throw RPCError(.failedPrecondition, "the client tokens file cannot be used: \(error)")
        }
        var created: [String: Int64] = [:]
        for line in Self.namedLines(text) {
            guard let name = Self.fields(line).first, let hash = line.firstIndex(of: "#") else { continue }
            for attribute in line[line.index(after: hash)...].split(separator: " ")
            where attribute.hasPrefix("created=") {
                created[name] = Self.seconds(iso8601: attribute.dropFirst("created=".count))
            }
        }
        let entries = tokens.map { Entry(name: $0.name, secret: $0.secret, created: created[$0.name]) }
        authenticator.setClientTokens(
            Dictionary(tokens.map { ($0.name, $0.secret) }, uniquingKeysWith: { first, _ in first }))
        return (text, entries)
    }

    /// Replaces the file with `text` (checked first: it must parse, and no
    /// client token may be the join token), then updates the authenticator.
    private func write(_ text: String) throws(RPCError) {
        let tokens: [Token]
        do throws(TokenFileError) {
            tokens = try TokenFile.parse(text, path: path)
        } catch {
            throw RPCError(.internal, "the new client tokens file would not parse: \(error.message)")
        }
        if tokens.contains(where: { $0.secret == join }) {
            throw RPCError(.internal, "a client token would be the same as the join token")
        }
        do throws(TokenFileError) {
            try TokenFile.replace(path, contents: text)
        } catch {
            throw RPCError(.internal, "cannot write the client tokens file: \(error.message)")
        }
        authenticator.setClientTokens(
            Dictionary(tokens.map { ($0.name, $0.secret) }, uniquingKeysWith: { first, _ in first }))
    }

    /// The file's lines with a bare token (a file's only one, named
    /// "default") written as `default TOKEN`, so more can follow it.
    private static func namedLines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            fields(String(line)).count == 1 ? "default " + line : String(line)
        }
    }

    /// The fields of a line before its comment.
    private static func fields(_ line: String) -> [String] {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).prefix { !$0.hasPrefix("#") }.map(
            String.init)
    }

    /// `seconds` since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
    static func iso8601(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return String(seconds) }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` as seconds since 1970; nil for anything else.
    static func seconds(iso8601 text: Substring) -> Int64? {
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
