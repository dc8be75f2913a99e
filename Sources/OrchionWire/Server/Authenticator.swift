import Synchronization

/// Who a bearer token belongs to.
public enum Principal: Sendable, Hashable {
    /// An agent, with the join token.
    case agent
    /// A client (CLI, dashboard, tools), with an API token of this name.
    case client(String)
}

/// Checks bearer tokens: the agent join token and named client API tokens.
///
/// Comparison takes the same time whatever the token and wherever it
/// differs: every configured token is compared in full. Tokens are never
/// logged or echoed; errors say only that a token is missing or wrong.
///
/// Copies share one token set: `setClientTokens` (token create/revoke)
/// changes what every copy accepts from the next call on.
///
/// Threading: any thread; the token set is behind a lock.
public struct Authenticator: Sendable {
    private final class Tokens: Sendable {
        let list: Mutex<[(Principal, [UInt8])]>
        init(_ list: [(Principal, [UInt8])]) { self.list = Mutex(list) }
    }

    private let tokens: Tokens
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
        guard let found else { throw RPCError(.unauthenticated, "invalid bearer token") }
        return found
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
