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
}
