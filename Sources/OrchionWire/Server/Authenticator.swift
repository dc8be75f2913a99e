import Glibc
import Synchronization

/// Who a bearer token belongs to.
public enum Principal: Sendable, Hashable, CustomStringConvertible {
    /// An agent, with the join token.
    case agent
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

    /// Whether a token was presented and refused: what the slow-down of
    /// repeated failures (`AuthFailureThrottle`) counts.
    public var isGuess: Bool { self != .missing }

    /// The UNAUTHENTICATED answer; never carries the token.
    public var rpcError: RPCError {
        switch self {
        case .missing:
            RPCError(.unauthenticated, "missing bearer token: expected 'Authorization: Bearer <token>'")
        case .unknown: RPCError(.unauthenticated, "invalid bearer token")
        case .expired: RPCError(.unauthenticated, "token expired: create a new one (`orchion token create NAME`)")
        }
    }
}

/// Checks bearer tokens: the agent join token and named client API tokens.
///
/// Client tokens are held as SHA-256 digests (`ClientCredential`): a
/// presented token is hashed and its digest compared with every client's,
/// in full, so the time taken does not depend on which token matched or
/// where one differs. The join token is compared as it is, in time that
/// depends only on the lengths. Tokens are never logged or echoed; errors
/// say only that a token is missing, wrong or expired.
///
/// Copies share one token set: `setClients` (token create/revoke) changes
/// what every copy accepts from the next call on.
///
/// Threading: any thread; the token set is behind a lock.
public struct Authenticator: Sendable {
    private final class Tokens: Sendable {
        let list: Mutex<[ClientCredential]>
        init(_ list: [ClientCredential]) { self.list = Mutex(list) }
    }

    private let tokens: Tokens
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
        tokens.list.withLock { $0 = clients }
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
        let clients = tokens.list.withLock { $0 }
        var found: ClientCredential?
        for client in clients where Self.constantTimeEqual(client.digest, digest) && found == nil {
            found = client
        }
        let isJoin = joinToken.map { Self.constantTimeEqual($0, presented) } ?? false
        if let found {
            if let expires = found.expires, now() >= expires { return .failure(.expired) }
            return .success(.client(found.name, found.scope))
        }
        return isJoin ? .success(.agent) : .failure(.unknown)
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
