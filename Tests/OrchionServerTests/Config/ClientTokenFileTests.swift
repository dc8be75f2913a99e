import Foundation
import OrchionWire
import TestSupport
import Testing

@testable import OrchionServer

/// The hashed client tokens file: its lines, lines of older versions
/// (secrets in clear), and the upgrade at start.
@Suite struct ClientTokenFileTests {
    private let secret = "3f9a0c7d1e2b4a6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"

    @Test func aHashedLineKeepsScopeTimesAndPrefixAndReadsBackTheSame() throws {
        let entry = ClientTokenEntry(
            name: "ci", digest: TokenDigest.sha256(secret.utf8), scope: .submit, created: 1_796_000_000,
            expires: 1_796_086_400, prefix: "3f9a0c")
        let line = ClientTokenFile.line(entry)
        #expect(
            line
                == "ci sha256:\(TokenDigest.hex(secret))  # scope=submit created=2026-11-30T00:53:20Z expires=2026-12-01T00:53:20Z prefix=3f9a0c"
        )
        #expect(!line.contains(secret))
        #expect(try ClientTokenFile.parse("# header\n" + line + "\n", path: "f") == [entry])
        #expect(entry.isExpired(at: 1_796_086_400) && !entry.isExpired(at: 1_796_086_399))
        #expect(!"\(entry)".contains(TokenDigest.hex(secret)), "described by name and scope only")
    }

    @Test func linesOfAnOlderVersionAreAdminTokensAndAreRewrittenHashedKeepingComments() throws {
        let text =
            "# my tokens\n\nlaptop \(secret)  # created=2026-11-29T16:40:00Z\nro sha256:\(TokenDigest.hex("x"))  # scope=read\n"
        let entries = try ClientTokenFile.parse(text, path: "f")
        #expect(entries.map(\.name) == ["laptop", "ro"])
        #expect(entries[0].scope == .admin && entries[0].legacySecret == secret && entries[0].expires == nil)
        #expect(entries[0].digest == TokenDigest.sha256(secret.utf8) && entries[0].prefix == nil)
        #expect(entries[0].created == ClientTokenFile.seconds(iso8601: "2026-11-29T16:40:00Z"))
        #expect(entries[1].scope == .read && entries[1].legacySecret == nil)
        let rewritten = ClientTokenFile.rewritten(text, entries: entries)
        #expect(
            rewritten
                == "# my tokens\n\nlaptop sha256:\(TokenDigest.hex(secret))  # scope=admin created=2026-11-29T16:40:00Z\n"
                + ClientTokenFile.line(entries[1]) + "\n")
        let reread = try ClientTokenFile.parse(rewritten, path: "f")
        #expect(reread.allSatisfy { $0.legacySecret == nil } && reread.map(\.digest) == entries.map(\.digest))
        // One bare token (the oldest format) is "default".
        #expect(try ClientTokenFile.parse(secret + "\n", path: "f").map(\.name) == ["default"])
    }

    @Test func anUnreadableScopeExpiryOrDigestMakesTheFileUnusableNamingTheLine() {
        let digest = "sha256:" + TokenDigest.hex(secret)
        let cases: [(String, String)] = [
            ("a \(digest)  # scope=root", "f: line 1: scope=root: expected join, read, submit or admin"),
            ("a \(digest)  # expires=tomorrow", "f: line 1: expires=tomorrow: expected YYYY-MM-DDTHH:MM:SSZ"),
            ("a sha256:abcdefabcdefabcdef", "f: the token of 'a': expected sha256: and 64 hex digits after it"),
            (
                "a \(digest)\nb \(digest.uppercased().replacingOccurrences(of: "SHA256:", with: "sha256:"))",
                "f: the token of 'b' is the same as an earlier one"
            ),
        ]
        for (text, expected) in cases {
            do {
                _ = try ClientTokenFile.parse(text, path: "f")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description == expected)
            }
        }
    }

    @Test func anUpgradedServerHashesOldLinesAndMovesTheCLIsTokenToItsCredentialFile() throws {
        let directory = try Paths.temporaryDirectory("orchion-tokens")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.tokens").path
        let other = "0123456789abcdef0123456789abcdef"
        try "laptop \(secret)\nci \(other)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        let (entries, notes) = try ServerTokens.loadClients(
            path, join: Token(name: "join", secret: "join-0123456789abcdef"))
        #expect(entries.map(\.name) == ["laptop", "ci"] && entries.allSatisfy { $0.scope == .admin })
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(secret) && !text.contains(other))
        let credential = directory.appendingPathComponent("client.credential").path
        #expect(try ClientCredentialFile.read(credential) == secret, "the first token: the one the CLI used")
        #expect(notes.contains { $0.hasPrefix("rewrote 2 client tokens of an older version hashed") })
        #expect(!notes.joined().contains(secret))
        // The tokens keep working.
        let authenticator = Authenticator(joinToken: nil, clients: entries.map(\.credential))
        #expect(try authenticator.authenticate("Bearer \(other)") == .client("ci", .admin))
        // A second start changes nothing.
        let (again, quiet) = try ServerTokens.loadClients(
            path, join: Token(name: "join", secret: "join-0123456789abcdef"))
        #expect(again == entries && quiet == ["client tokens from \(path) (2 tokens)"])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
    }

    /// Found by fuzzing: lines were split by Characters, and "\r\n" is one,
    /// so a file with CRLF endings was refused, and a line of CRs followed by
    /// the newline the rewrite appends made a file the server could no
    /// longer read at its next start.
    @Test func crlfEndingsAndStrayCRsReadAndRewriteAlike() throws {
        let crlf = "# edited on Windows\r\nci sha256:\(TokenDigest.hex("x"))  # scope=read\r\nops \(secret)\r\n"
        let entries = try ClientTokenFile.parse(crlf, path: "f")
        #expect(entries.map(\.name) == ["ci", "ops"] && entries.map(\.scope) == [.read, .admin])
        for text in [crlf, "laptop \(secret)\n\r\r\r"] {
            let parsed = try ClientTokenFile.parse(text, path: "f")
            let reread = try ClientTokenFile.parse(ClientTokenFile.rewritten(text, entries: parsed), path: "f")
            #expect(reread.map(\.digest) == parsed.map(\.digest) && reread.allSatisfy { $0.legacySecret == nil })
        }
    }
}
