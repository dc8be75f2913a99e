import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire
import SwiftProtobuf
import Synchronization

/// The clients' API tokens as the control API manages them (`CreateToken`,
/// `ListTokens`, `RevokeToken`): kept hashed in the client tokens file
/// (see `ClientTokenFile`), which each change rewrites atomically (a 0600
/// temporary file renamed over it), and handed to the `Authenticator`, so
/// a revoked token is refused from the next call on. A secret exists only
/// in `create`'s answer: it is never written, nor logged.
///
/// Every change re-reads the file first, so a line added by hand is kept
/// (and accepted from then on); one added in clear (an older version's
/// `NAME SECRET`) is rewritten hashed by that change.
///
/// Threading: `create`, `list` and `revoke` do blocking file I/O: call them
/// off the event loop (the control API runs them on the loop's thread
/// pool). Changes are serialized by a lock, so two at once never lose one.
final class ClientTokens: Sendable {
    /// The client tokens file.
    let path: String
    private let authenticator: Authenticator
    private let joinDigest: [UInt8]
    private let lock = Mutex(())
    /// How other machines join, for the answer to a `join` token's creation
    /// (set once the server listens).
    private let joinCommand = Mutex<JoinCommand?>(nil)
    /// Seconds since 1970 now; a parameter so tests can move time.
    private let now: @Sendable () -> Int64
    /// The most client tokens the file holds: well under what fits the
    /// 1 MiB the server reads at start (`TokenFile.maxFileBytes`), so no
    /// client can create its way to a server that no longer starts.
    static let maxTokens = 1_000
    /// The longest `ttl_seconds` taken: 100 years.
    static let maxTTLSeconds: UInt64 = 100 * 366 * 86_400
    /// The scope of a token created without one: the least.
    static let defaultScope = Scope.read

    init(
        path: String, authenticator: Authenticator, joinSecret: String,
        now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }
    ) {
        self.path = path
        self.authenticator = authenticator
        joinDigest = TokenDigest.sha256(joinSecret.utf8)
        self.now = now
    }

    /// Where the server listens and how it is trusted, for the join
    /// command a `join` token's creation answers.
    func setJoinCommand(_ command: JoinCommand) { joinCommand.withLock { $0 = command } }

    /// What the API shows of `entry` (never a secret).
    func info(_ entry: ClientTokenEntry) -> Orchion_V1_TokenInfo {
        let now = self.now()
        return .with {
            $0.name = entry.name
            $0.prefix = entry.prefix ?? ""
            $0.scope = entry.scope.name
            if let created = entry.created { $0.createdAt = Google_Protobuf_Timestamp(seconds: created) }
            if let expires = entry.expires { $0.expiresAt = Google_Protobuf_Timestamp(seconds: expires) }
            $0.expired = entry.isExpired(at: now)
        }
    }

    /// The tokens in the file, in file order.
    func list() throws(RPCError) -> [ClientTokenEntry] {
        try lock.withLock { _ throws(RPCError) in try read().entries }
    }

    /// Adds a fresh token named `name` with `scope` ("": `defaultScope`)
    /// that expires `ttlSeconds` from now (0: never); answers it with its secret.
    func create(name: String, scope: String = "", ttlSeconds: UInt64 = 0) throws(RPCError) -> Orchion_V1_CreatedToken {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        else {
            throw RPCError(
                .invalidArgument,
                "name: expected 1 to 64 letters, digits, '.', '_' or '-', found '\(name.prefix(utf8Bytes: 64))'")
        }
        let granted: Scope
        if scope.isEmpty {
            granted = Self.defaultScope
        } else if let named = Scope(name: scope) {
            granted = named
        } else {
            throw RPCError(
                .invalidArgument,
                "scope: expected join, read, submit or admin, found '\(scope.prefix(utf8Bytes: 32))'")
        }
        guard ttlSeconds <= Self.maxTTLSeconds else {
            throw RPCError(
                .invalidArgument, "ttl_seconds: expected at most \(Self.maxTTLSeconds) (100 years), found \(ttlSeconds)"
            )
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
            let created = now()
            let entry = ClientTokenEntry(
                name: name, digest: TokenDigest.sha256(secret.utf8), scope: granted, created: created,
                expires: ttlSeconds == 0 ? nil : created + Int64(ttlSeconds),
                prefix: String(secret.prefix(ClientTokenFile.prefixLength)))
            var rewritten = ClientTokenFile.rewritten(text, entries: entries)
            rewritten += ClientTokenFile.line(entry) + "\n"
            try write(rewritten)
            let join = granted == .join ? joinCommand.withLock { $0 }?.line(token: secret) : nil
            return .with {
                $0.info = info(entry)
                $0.secret = secret
                if let join { $0.joinCommand = join }
            }
        }
    }

    /// Removes the token named `name`; answers what it was. The last token,
    /// and an admin token when no other admin token that never expires
    /// remains, cannot be removed (a server without one could not be
    /// managed, sooner or later: found by attack with an expiring admin).
    func revoke(name: String) throws(RPCError) -> Orchion_V1_TokenInfo {
        try lock.withLock { _ throws(RPCError) in
            let (text, entries) = try read()
            guard let entry = entries.first(where: { $0.name == name }) else {
                throw RPCError(.notFound, "client token '\(name.prefix(utf8Bytes: 64))' not found")
            }
            // Another admin token must remain (found by attack: revoking the
            // last one left a server nobody could manage without a hand edit).
            guard
                entries.count > 1,
                entry.scope != .admin
                    || entries.contains(where: { $0.name != name && $0.scope == .admin && $0.expires == nil })
            else {
                throw RPCError(
                    .failedPrecondition,
                    "'\(name)' is the only \(entries.count > 1 ? "admin token that never expires" : "client token"): "
                        + "create another first (`orchion token create NAME --scope admin`, without --ttl)")
            }
            try write(ClientTokenFile.rewritten(text, entries: entries.filter { $0.name != name }))
            return info(entry)
        }
    }

    /// The file's text and tokens; also hands the tokens to the
    /// authenticator (so a line added by hand counts from here on).
    private func read() throws(RPCError) -> (text: String, entries: [ClientTokenEntry]) {
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
        let entries: [ClientTokenEntry]
        do throws(TokenFileError) {
            entries = try ClientTokenFile.parse(text, path: path)
        } catch {
            throw RPCError(.failedPrecondition, "the client tokens file cannot be used: \(error)")
        }
        authenticator.setClients(entries.filter { $0.digest != joinDigest }.map(\.credential))
        return (text, entries)
    }

    /// Replaces the file with `text` (checked first: it must parse, and no
    /// client token may be the join token), then updates the authenticator.
    private func write(_ text: String) throws(RPCError) {
        let entries: [ClientTokenEntry]
        do throws(TokenFileError) {
            entries = try ClientTokenFile.parse(text, path: path)
        } catch {
            throw RPCError(.internal, "the new client tokens file would not parse: \(error.message)")
        }
        if entries.contains(where: { $0.digest == joinDigest }) {
            throw RPCError(.internal, "a client token would be the same as the join token")
        }
        if entries.contains(where: { $0.legacySecret != nil }) {
            throw RPCError(.internal, "the new client tokens file would hold a secret in clear")
        }
        do throws(TokenFileError) {
            try TokenFile.replace(path, contents: text)
        } catch {
            throw RPCError(.internal, "cannot write the client tokens file: \(error.message)")
        }
        authenticator.setClients(entries.map(\.credential))
    }
}
