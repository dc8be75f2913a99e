import OrchionWire

/// The server's tokens, read from the files a `ServerConfig` names (and
/// created there when missing, so a first start needs nothing prepared).
///
/// The join token comes from `ORCHION_JOIN_TOKEN` when that is set (the
/// file is then neither read nor created), else from
/// `tokens.join_token_file` (one token). Client tokens come from
/// `tokens.client_tokens_file` (`NAME TOKEN` lines). See `TokenFile` for
/// the format and the permission rule.
///
/// Threading: a value; `load` does blocking file I/O (call it off the event
/// loop thread).
public struct ServerTokens: Sendable {
    /// The agents' join token.
    public let join: Token
    /// The clients' API tokens, in file order.
    public let clients: [Token]
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
        let clientsPath = config.tokens.clientTokensFile
        let (clients, created) = try TokenFile.readOrCreate(
            clientsPath, name: "default",
            comment: "orchion client API tokens: one 'NAME TOKEN' a line; keep this file mode 0600")
        if clients.contains(where: { $0.secret == join.secret }) {
            throw TokenFileError(path: clientsPath, "a client token is the same as the join token")
        }
        notes.append(
            (created ? "created the client tokens file \(clientsPath)" : "client tokens from \(clientsPath)")
                + " (\(clients.count) \(clients.count == 1 ? "token" : "tokens"))")
        return ServerTokens(join: join, clients: clients, notes: notes)
    }

    /// An `Authenticator` for these tokens.
    public var authenticator: Authenticator {
        Authenticator(
            joinToken: join.secret,
            clientTokens: Dictionary(clients.map { ($0.name, $0.secret) }, uniquingKeysWith: { first, _ in first }))
    }
}
