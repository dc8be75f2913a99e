import Glibc
import Synchronization

/// Who a bearer token belongs to.
public enum Principal: Sendable, Hashable, CustomStringConvertible {
    /// An agent, with the join token (enrolling a new node).
    case agent
    /// An agent with the credential the server issued to this node id
    /// when it joined: it may act only as that node.
    case node(String)
    /// A client (CLI, dashboard, tools), with the API token of this name
    /// and what that token may do.
    case client(String, Scope)

    /// The client token's name; nil for an agent.
    public var clientName: String? {
        guard case .client(let name, _) = self else { return nil }
        return name
    }

    /// The client token's scope; nil for an agent.
    public var scope: Scope? {
        guard case .client(_, let scope) = self else { return nil }
        return scope
    }

    public var description: String {
        switch self {
        case .agent: "an agent (join token)"
        case .node(let id): "node \(id) (its node credential)"
        case .client(let name, let scope): "client token '\(name)' (scope \(scope.name))"
        }
    }
}

/// A client token as the server keeps it: its name, the SHA-256 of its
/// secret (never the secret), its scope and when it expires.
///
/// Threading: a value; safe anywhere.
public struct ClientCredential: Sendable, Hashable {
    public let name: String
    /// `TokenDigest.sha256` of the secret: 32 bytes.
    public let digest: [UInt8]
    public let scope: Scope
    /// Seconds since 1970 from which the token is refused; nil: never.
    public let expires: Int64?

    public init(name: String, digest: [UInt8], scope: Scope, expires: Int64? = nil) {
        self.name = name
        self.digest = digest
        self.scope = scope
        self.expires = expires
    }

    /// A credential for the secret `secret` (hashed here).
    public init(name: String, secret: String, scope: Scope, expires: Int64? = nil) {
        self.init(name: name, digest: TokenDigest.sha256(secret.utf8), scope: scope, expires: expires)
    }
}

/// Why a bearer token was refused.
public enum AuthenticationFailure: Error, Sendable, Hashable {
    /// No `Authorization: Bearer …` header at all: nothing was guessed.
    case missing
    /// A token that matches no client token and not the join token.
    case unknown
    /// A client token that matched but is past its expiry.
    case expired
    /// The last credential of this node, which was removed from the cluster.
    case removedNode(String)

    /// Whether a token was presented and refused: what the slow-down of
    /// repeated failures (`AuthFailureThrottle`) counts.
    public var isGuess: Bool {
        switch self {
        case .missing, .removedNode: false
        case .unknown, .expired: true
        }
    }

    /// The UNAUTHENTICATED answer; never carries the token.
    public var rpcError: RPCError {
        switch self {
        case .missing:
            RPCError(.unauthenticated, "missing bearer token: expected 'Authorization: Bearer <token>'")
        case .unknown: RPCError(.unauthenticated, "invalid bearer token")
        case .expired: RPCError(.unauthenticated, "token expired: create a new one (`orchion token create NAME`)")
        case .removedNode(let node): RPCError(.unauthenticated, Authenticator.removedMessage(node))
        }
    }
}

/// Checks bearer tokens: the agent join token, named client API tokens,
/// and the nodes' own credentials.
///
/// Client tokens (`ClientCredential`) and node credentials
/// (`setNodeCredentials`) are known only by their SHA-256 and looked up by
/// the presented token's digest: the lookup's timing depends on that digest
/// alone, which tells nothing about a stored token, and costs the same
/// with one token or a thousand (each request is authenticated twice: at
/// its head and when it runs). The join token is compared as it is, in
/// time that depends only on the lengths. Tokens are never logged or echoed; errors
/// say only that a token is missing, wrong or expired, or that the
/// credential belongs to a removed node.
///
/// Copies share one token set: `setClients` (token create/revoke) and
/// `setNodeCredentials` change what every copy accepts from the next call on.
///
/// Threading: any thread; the token set is behind a lock.
public struct Authenticator: Sendable {
    /// Client tokens by digest (the first of a digest given twice).
    private final class Tokens: Sendable {
        let byDigest: Mutex<[[UInt8]: ClientCredential]>
        init(_ list: [ClientCredential]) { byDigest = Mutex(Self.table(list)) }

        static func table(_ list: [ClientCredential]) -> [[UInt8]: ClientCredential] {
            Dictionary(list.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Node credentials by their SHA-256: the node id, and whether the node
    /// was removed (its last credential is then refused with a message
    /// that says so).
    private final class NodeCredentials: Sendable {
        struct Table {
            var byDigest: [[UInt8]: (node: String, removed: Bool)] = [:]
            var byNode: [String: [UInt8]] = [:]

            mutating func set(_ node: String, digest: [UInt8]?, removed: Bool) {
                if let old = byNode.removeValue(forKey: node) { byDigest[old] = nil }
                guard let digest, digest.count == 32 else { return }
                byDigest[digest] = (node, removed)
                byNode[node] = digest
            }
        }
        let table = Mutex(Table())
    }

    private let tokens: Tokens
    private let nodes = NodeCredentials()
    private let joinToken: [UInt8]?
    /// Seconds since 1970 now; a parameter so tests can move time.
    private let now: @Sendable () -> Int64

    /// Accepts `joinToken` (agents) and the `clients`' tokens.
    public init(
        joinToken: String?, clients: [ClientCredential], now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }
    ) {
        self.joinToken = joinToken.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        self.now = now
        tokens = Tokens(clients)
    }

    /// `clientTokens` maps a name (for audit) to its secret; each is an
    /// `admin` token that never expires.
    public init(joinToken: String?, clientTokens: [String: String]) {
        self.init(
            joinToken: joinToken,
            clients: clientTokens.sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map {
                ClientCredential(name: $0.key, secret: $0.value, scope: .admin)
            })
    }

    /// Replaces the client tokens (the join token stays): a token removed
    /// here is refused from the next call on.
    public func setClients(_ clients: [ClientCredential]) {
        let table = Tokens.table(clients)
        tokens.byDigest.withLock { $0 = table }
    }

    /// Replaces the node credentials (at start): `active` maps a node id to
    /// the SHA-256 of the credential it presents; `removed` maps a removed
    /// node's id to the SHA-256 of its last credential, refused with
    /// UNAUTHENTICATED and a message naming the node as removed. A digest
    /// that is not 32 bytes is left out.
    public func setNodeCredentials(active: [String: [UInt8]], removed: [String: [UInt8]]) {
        var table = NodeCredentials.Table()
        for (node, digest) in removed { table.set(node, digest: digest, removed: true) }
        for (node, digest) in active { table.set(node, digest: digest, removed: false) }
        nodes.table.withLock { $0 = table }
    }

    /// Sets one node's credential from the next call on (its earlier one is
    /// refused from then on): the SHA-256 it presents, or, `removed`, the
    /// one it is refused with as a removed node; nil forgets the node.
    public func setNodeCredential(_ node: String, digest: [UInt8]?, removed: Bool = false) {
        nodes.table.withLock { $0.set(node, digest: digest, removed: removed) }
    }

    /// The principal for an `Authorization` header value, or an UNAUTHENTICATED error.
    public func authenticate(_ authorization: String?) throws(RPCError) -> Principal {
        switch check(authorization) {
        case .success(let principal): return principal
        case .failure(let failure): throw failure.rpcError
        }
    }

    /// The principal for an `Authorization` header value, or why not.
    /// Works on the value's bytes: any bytes at all (split UTF-8 scalars
    /// included) get an answer, never a trap.
    public func check(_ authorization: String?) -> Result<Principal, AuthenticationFailure> {
        guard let authorization, authorization.utf8.count > 7,
            authorization.utf8.prefix(7).elementsEqual(
                "bearer ".utf8, by: { $0 == $1 || $0 | 0x20 == $1 && $1 != 0x20 })
        else { return .failure(.missing) }
        let presented = authorization.utf8.dropFirst(7)
        let digest = TokenDigest.sha256(presented)
        let found = tokens.byDigest.withLock { $0[digest] }
        let isJoin = joinToken.map { Self.constantTimeEqual($0, presented) } ?? false
        if let found {
            if let expires = found.expires, now() >= expires { return .failure(.expired) }
            // A join-scoped token enrols nodes, as the join token does.
            return .success(found.scope == .join ? .agent : .client(found.name, found.scope))
        }
        if isJoin { return .success(.agent) }
        guard let node = nodes.table.withLock({ $0.byDigest[digest] }) else { return .failure(.unknown) }
        return node.removed ? .failure(.removedNode(node.node)) : .success(.node(node.node))
    }

    /// What a removed node is told, on its old credential and when it tries
    /// to join again with the join token.
    public static func removedMessage(_ node: String) -> String {
        "node \(node) was removed from the cluster (orchion node remove) and its credential revoked; "
            + "to let it join again, run `orchion node admit \(node)`, then restart its agent"
    }

    /// Whether `authorization` still authenticates as `principal` (its token
    /// not revoked, not expired), asked again by a stream opened with it.
    public func stillAuthorizes(_ authorization: String?, as principal: Principal) -> @Sendable () -> Bool {
        { [self] in (try? check(authorization).get()) == principal }
    }

    /// Compares in time that depends only on the lengths.
    static func constantTimeEqual<Other: Collection<UInt8>>(_ a: [UInt8], _ b: Other) -> Bool {
        // Lengths compared as a whole (not truncated to a byte, which would
        // let 256 extra NUL bytes pass).
        var difference: UInt8 = a.count == b.count ? 0 : 1
        var presented = b.makeIterator()
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (presented.next() ?? 0)
        }
        return difference == 0
    }
}
