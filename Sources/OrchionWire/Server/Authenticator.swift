import Synchronization

/// Who a bearer token belongs to.
public enum Principal: Sendable, Hashable {
    /// An agent, with the join token (enrolling; any node id).
    case agent
    /// An agent with the credential the server issued to this node id
    /// when it joined: it may act only as that node.
    case node(String)
    /// A client (CLI, dashboard, tools), with an API token of this name.
    case client(String)
}

/// Checks bearer tokens: the agent join token, named client API tokens,
/// and the nodes' own credentials.
///
/// Comparison takes the same time whatever the token and wherever it
/// differs: every configured token is compared in full. Node credentials
/// are known only by their SHA-256 (`setNodeCredentials`) and looked up by
/// the presented token's digest: the lookup's timing depends on that
/// digest alone, which tells nothing about a credential. Tokens are never
/// logged or echoed; errors say only that a token is missing or wrong, or
/// that the credential belongs to a removed node.
///
/// Copies share one token set: `setClientTokens` (token create/revoke) and
/// `setNodeCredentials` change what every copy accepts from the next call on.
///
/// Threading: any thread; the token set is behind a lock.
public struct Authenticator: Sendable {
    private final class Tokens: Sendable {
        let list: Mutex<[(Principal, [UInt8])]>
        init(_ list: [(Principal, [UInt8])]) { self.list = Mutex(list) }
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

    /// `clientTokens` maps a name (for audit) to its token.
    public init(joinToken: String?, clientTokens: [String: String]) {
        self.joinToken = joinToken.map { Array($0.utf8) }
        tokens = Tokens(Self.list(joinToken: self.joinToken, clientTokens: clientTokens))
    }

    /// Replaces the client tokens (the join token stays): a token removed
    /// here is refused from the next call on.
    public func setClientTokens(_ clientTokens: [String: String]) {
        let list = Self.list(joinToken: joinToken, clientTokens: clientTokens)
        tokens.list.withLock { $0 = list }
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

    private static func list(joinToken: [UInt8]?, clientTokens: [String: String]) -> [(Principal, [UInt8])] {
        var tokens = clientTokens.sorted { $0.key < $1.key }.map { (Principal.client($0.key), Array($0.value.utf8)) }
        if let joinToken { tokens.append((.agent, joinToken)) }
        return tokens.filter { !$0.1.isEmpty }
    }

    /// The principal for an `Authorization` header value, or an UNAUTHENTICATED error.
    /// Works on the value's bytes: any bytes at all (split UTF-8 scalars
    /// included) get an answer, never a trap.
    public func authenticate(_ authorization: String?) throws(RPCError) -> Principal {
        guard let authorization, authorization.utf8.count > 7,
            authorization.utf8.prefix(7).elementsEqual(
                "bearer ".utf8, by: { $0 == $1 || $0 | 0x20 == $1 && $1 != 0x20 })
        else {
            throw RPCError(.unauthenticated, "missing bearer token: expected 'Authorization: Bearer <token>'")
        }
        let presented = authorization.utf8.dropFirst(7)
        let tokens = self.tokens.list.withLock { $0 }
        var found: Principal?
        for (principal, token) in tokens where Self.constantTimeEqual(token, presented) && found == nil {
            found = principal
        }
        if let found { return found }
        let digest = TokenDigest.sha256(presented)
        guard let node = nodes.table.withLock({ $0.byDigest[digest] }) else {
            throw RPCError(.unauthenticated, "invalid bearer token")
        }
        guard !node.removed else { throw RPCError(.unauthenticated, Self.removedMessage(node.node)) }
        return .node(node.node)
    }

    /// What a removed node is told, on its old credential and when it tries
    /// to join again with the join token.
    public static func removedMessage(_ node: String) -> String {
        "node \(node) was removed from the cluster (orchion node remove) and its credential revoked; "
            + "to let it join again, run `orchion node admit \(node)`, then restart its agent"
    }

    /// Compares in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: Substring.UTF8View) -> Bool {
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
