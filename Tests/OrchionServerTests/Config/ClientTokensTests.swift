import Foundation
import OrchionWire
import TestSupport
import Testing

@testable import OrchionServer

/// The client tokens file as the token API changes it.
struct ClientTokensTests {
    @Test func creatingPastTheTokenLimitIsRefusedAndTheFileStaysReadableAtStart() throws {
        let directory = try Paths.temporaryDirectory("orchion-tokens")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.tokens").path
        let lines = (0..<(ClientTokens.maxTokens - 1)).map { "t\($0) \(String(repeating: "a", count: 40))\($0)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        let tokens = ClientTokens(
            path: path, authenticator: Authenticator(joinToken: "join", clientTokens: [:]), joinSecret: "join")
        _ = try tokens.create(name: "last")
        #expect(try tokens.list().count == ClientTokens.maxTokens)
        do {
            _ = try tokens.create(name: "one-more")
            Issue.record("created a token past the limit")
        } catch {
            #expect(error.code == .resourceExhausted, "\(error)")
        }
        #expect(try TokenFile.read(path).count == ClientTokens.maxTokens)
    }

    /// Found by attack: revoking the only admin token while a read token
    /// remained left a server nobody could manage without a hand edit.
    @Test func theLastAdminTokenAndTheLastTokenCannotBeRevoked() throws {
        let directory = try Paths.temporaryDirectory("orchion-tokens")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.tokens").path
        try "ci \(String(repeating: "c", count: 43))\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        let tokens = ClientTokens(
            path: path, authenticator: Authenticator(joinToken: "join", clientTokens: [:]), joinSecret: "join")
        _ = try tokens.create(name: "ro", scope: "read")
        _ = try tokens.create(name: "brief", scope: "admin", ttlSeconds: 3600)  // expires: does not count
        let lastAdmin = #expect(throws: RPCError.self) { _ = try tokens.revoke(name: "ci") }
        #expect(lastAdmin?.code == .failedPrecondition && lastAdmin?.message.contains("only admin token") == true)
        _ = try tokens.revoke(name: "brief")
        _ = try tokens.create(name: "ops", scope: "admin")
        _ = try tokens.revoke(name: "ci")
        _ = try tokens.revoke(name: "ro")
        let last = #expect(throws: RPCError.self) { _ = try tokens.revoke(name: "ops") }
        #expect(last?.code == .failedPrecondition)
        #expect(try tokens.list().map(\.name) == ["ops"])
        // The legacy line was hashed without keeping any of its secret as a prefix.
        #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains("prefix=cccccc"))
    }
}
