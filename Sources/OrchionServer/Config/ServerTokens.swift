import Glibc
import OrchionWire

/// The server's tokens, read from the files a `ServerConfig` names (and
/// created there when missing, so a first start needs nothing prepared).
///
/// The join token comes from `ORCHION_JOIN_TOKEN` when that is set (the
/// file is then neither read nor created), else from
/// `tokens.join_token_file` (one token). Client tokens come from
/// `tokens.client_tokens_file` (hashed lines: see `ClientTokenFile`). See
/// `TokenFile` for the permission rule.
///
/// Threading: a value; `load` does blocking file I/O (call it off the event
/// loop thread).
public struct ServerTokens: Sendable {
    /// The agents' join token.
    public let join: Token
    /// The clients' API tokens, in file order (hashed: no secret).
    public let clients: [ClientTokenEntry]
    /// Lines for the server's log: files created, the join token's source.
    /// Never a token's value.
    public let notes: [String]

    /// Reads (or creates) the token files of `config`.
    public static func load(_ config: ServerConfig) throws(TokenFileError) -> ServerTokens {
        var notes: [String] = []
        let join: Token
        if let fromEnvironment = config.sources.environment["ORCHION_JOIN_TOKEN"] {
            let tokens = try TokenFile.parse(fromEnvironment, path: "ORCHION_JOIN_TOKEN")
            guard tokens.count == 1, let only = tokens.first else {
                throw TokenFileError(path: "ORCHION_JOIN_TOKEN", "expected one token, found \(tokens.count)")
            }
            join = Token(name: "join", secret: only.secret)
            notes.append("join token from ORCHION_JOIN_TOKEN")
        } else {
            let path = config.tokens.joinTokenFile
            let (tokens, created) = try TokenFile.readOrCreate(
                path, name: nil, comment: "orchion join token: agents present it to register; keep this file mode 0600")
            guard tokens.count == 1, let only = tokens.first else {
                throw TokenFileError(path: path, "expected one join token, found \(tokens.count)")
            }
            join = Token(name: "join", secret: only.secret)
            notes.append(created ? "created the join token file \(path)" : "join token from \(path)")
        }
        let (clients, clientNotes) = try loadClients(config.tokens.clientTokensFile, join: join)
        notes += clientNotes
        return ServerTokens(join: join, clients: clients, notes: notes)
    }

    /// The client tokens file's entries. On first start creates it with
    /// one `admin` token named "default", whose secret goes only to the
    /// client credential file beside it (`ClientCredentialFile`), for this
    /// machine's CLI. Lines of older versions (a secret in clear) are
    /// rewritten hashed here; when the first of them was the token this
    /// machine's CLI used (it read the first line) and there is no
    /// credential file yet, its secret moves there, so nobody is locked out.
    static func loadClients(_ path: String, join: Token) throws(TokenFileError) -> (
        [ClientTokenEntry], [String]
    ) {
        var notes: [String] = []
        let credentialPath = ClientCredentialFile.path(besideClientTokens: path)
        var existing = stat()
        var created = false
        if stat(path, &existing) != 0 && errno == ENOENT {
            let secret = try TokenFile.generate()
            let entry = ClientTokenEntry(
                name: "default", digest: TokenDigest.sha256(secret.utf8), scope: .admin, created: Int64(time(nil)),
                prefix: String(secret.prefix(ClientTokenFile.prefixLength)))
            let header =
                "# orchion client API tokens, hashed: 'NAME sha256:HEX  # scope=… created=… expires=…'; keep this file mode 0600"
            created = try TokenFile.create(path, contents: header + "\n" + ClientTokenFile.line(entry) + "\n")
            if created {
                do throws(TokenFileError) {
                    try ClientCredentialFile.write(credentialPath, secret: secret)
                } catch {
                    // Without its secret the new token is no one's: start over next time.
                    unlink(path)
                    throw error
                }
                notes.append("created the client credential file \(credentialPath) (an admin token)")
            }
        }
        let text = try TokenFile.readText(path)
        var clients = try ClientTokenFile.parse(text, path: path)
        if clients.isEmpty { throw TokenFileError(path: path, "no client token") }
        if clients.contains(where: { $0.digest == TokenDigest.sha256(join.secret.utf8) }) {
            throw TokenFileError(path: path, "a client token is the same as the join token")
        }
        let legacy = clients.filter { $0.legacySecret != nil }
        if !legacy.isEmpty {
            // Best effort: a file that cannot be rewritten (a read-only
            // directory) keeps working in clear, and the log says why.
            do throws(TokenFileError) {
                if let first = clients.first?.legacySecret, stat(credentialPath, &existing) != 0 && errno == ENOENT {
                    try ClientCredentialFile.write(credentialPath, secret: first)
                    notes.append(
                        "moved the first client token's secret to \(credentialPath) (this machine's CLI uses it)")
                }
                try TokenFile.replace(path, contents: ClientTokenFile.rewritten(text, entries: clients))
                for index in clients.indices { clients[index].legacySecret = nil }
                notes.append(
                    "rewrote \(legacy.count) client \(legacy.count == 1 ? "token" : "tokens") of an older version hashed (as admin tokens) in \(path)"
                )
            } catch {
                notes.append(
                    "cannot rewrite the client tokens of an older version hashed (\(error)): they work, kept in clear until it can"
                )
            }
        }
        notes.append(
            (created ? "created the client tokens file \(path)" : "client tokens from \(path)")
                + " (\(clients.count) \(clients.count == 1 ? "token" : "tokens"))")
        return (clients, notes)
    }

    /// An `Authenticator` for these tokens.
    public var authenticator: Authenticator {
        Authenticator(joinToken: join.secret, clients: clients.map(\.credential))
    }
}
