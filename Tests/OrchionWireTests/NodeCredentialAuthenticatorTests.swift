import Testing

@testable import OrchionWire

/// Node credentials in the authenticator: known by their SHA-256 alone.
@Suite struct NodeCredentialAuthenticatorTests {
    private let first = "first-node-credential-0123456789abcdef"
    private let second = "second-node-credential-0123456789abcdef"

    private func refusal(_ authenticator: Authenticator, _ token: String) -> RPCError? {
        do {
            _ = try authenticator.authenticate("Bearer \(token)")
            return nil
        } catch {
            return error
        }
    }

    @Test func aCredentialAuthenticatesAsItsOwnNodeFromItsDigestAlone() throws {
        let authenticator = Authenticator(joinToken: "join", clientTokens: ["tests": "secret"])
        authenticator.setNodeCredentials(
            active: ["node-a": TokenDigest.sha256(first.utf8), "node-b": TokenDigest.sha256(second.utf8)], removed: [:])
        #expect(try authenticator.authenticate("Bearer \(first)") == .node("node-a"))
        #expect(try authenticator.authenticate("bearer \(second)") == .node("node-b"))
        #expect(try authenticator.authenticate("Bearer join") == .agent)
        #expect(try authenticator.authenticate("Bearer secret") == .client("tests", .admin))
        // The digest itself is no credential.
        let hexDigest = TokenDigest.hex(first)
        #expect(refusal(authenticator, hexDigest)?.code == .unauthenticated)
        #expect(refusal(authenticator, hexDigest)?.message == "invalid bearer token")
    }

    @Test func aReplacedCredentialIsRefusedAndTheOtherNodesKeepTheirs() throws {
        let authenticator = Authenticator(joinToken: "join", clientTokens: [:])
        authenticator.setNodeCredential("node-a", digest: TokenDigest.sha256(first.utf8))
        authenticator.setNodeCredential("node-b", digest: TokenDigest.sha256(second.utf8))
        let replacement = "replacement-credential-0123456789abcdef"
        authenticator.setNodeCredential("node-a", digest: TokenDigest.sha256(replacement.utf8))
        #expect(refusal(authenticator, first)?.message == "invalid bearer token")
        #expect(try authenticator.authenticate("Bearer \(replacement)") == .node("node-a"))
        #expect(try authenticator.authenticate("Bearer \(second)") == .node("node-b"))
        authenticator.setNodeCredential("node-a", digest: nil)
        #expect(refusal(authenticator, replacement)?.code == .unauthenticated)
        #expect(try authenticator.authenticate("Bearer \(second)") == .node("node-b"))
    }

    @Test func aRemovedNodesLastCredentialIsRefusedWithAMessageNamingItRemoved() throws {
        let authenticator = Authenticator(joinToken: "join", clientTokens: [:])
        authenticator.setNodeCredentials(active: ["node-b": TokenDigest.sha256(second.utf8)], removed: [:])
        authenticator.setNodeCredential("node-a", digest: TokenDigest.sha256(first.utf8), removed: true)
        let refused = try #require(refusal(authenticator, first))
        #expect(refused.code == .unauthenticated)
        #expect(refused.message == Authenticator.removedMessage("node-a"))
        #expect(refused.message.contains("orchion node admit node-a"))
        #expect(!refused.message.contains(first))
        #expect(try authenticator.authenticate("Bearer \(second)") == .node("node-b"))
        // From a restart: the same, from the whole set.
        let restarted = Authenticator(joinToken: "join", clientTokens: [:])
        restarted.setNodeCredentials(active: [:], removed: ["node-a": TokenDigest.sha256(first.utf8)])
        #expect(refusal(restarted, first)?.message == Authenticator.removedMessage("node-a"))
    }
}
