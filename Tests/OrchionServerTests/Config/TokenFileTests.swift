import Foundation
import OrchionServer
import OrchionWire
import TestSupport
import Testing

/// The mode bits of `path` (permissions only).
private func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try #require(attributes[.posixPermissions] as? Int)
}

/// The error `body` throws, or nil.
private func tokenError<T>(_ body: () throws(TokenFileError) -> T) -> TokenFileError? {
    do {
        _ = try body()
        return nil
    } catch { return error }
}

/// Writes `text` to `path` with `permissions`.
private func write(_ text: String, to path: String, permissions: Int) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
}

@Suite struct TokenFileTests {
    @Test func aMissingFileIsCreatedOwnerOnlyInOwnerOnlyDirectoriesWithARandomToken() throws {
        let scratch = try Paths.temporaryDirectory("orchion-tokens")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.path + "/state/sub/join.token"
        let first = try TokenFile.readOrCreate(path, name: nil, comment: "test")
        #expect(first.created)
        #expect(try mode(path) == 0o600)
        #expect(try mode(scratch.path + "/state") == 0o700)
        #expect(try mode(scratch.path + "/state/sub") == 0o700)
        let token = try #require(first.tokens.first)
        #expect(first.tokens.count == 1 && token.name == "default")
        #expect(token.secret.count == 64 && token.secret.allSatisfy(\.isHexDigit))
        let again = try TokenFile.readOrCreate(path, name: nil, comment: "test")
        #expect(!again.created && again.tokens == first.tokens, "an existing file is read, not replaced")
        let other = try TokenFile.readOrCreate(scratch.path + "/other/join.token", name: nil, comment: "test")
        #expect(other.tokens.first?.secret != token.secret, "two creations give two different tokens")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/state/sub")
        #expect(leftovers == ["join.token"], "no temporary file is left behind")
    }

    @Test func aFileGroupOrOthersCanReadIsRefusedWithTheModeAndTheFix() throws {
        let scratch = try Paths.temporaryDirectory("orchion-tokens")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.path + "/join.token"
        let secret = "0123456789abcdef0123456789abcdef"
        let cases: [(Int, String)] = [
            (0o644, "mode 0644 is not owner-only (group may read, others may read): run `chmod 600 \(path)`"),
            (0o640, "mode 0640 is not owner-only (group may read): run `chmod 600 \(path)`"),
            (0o602, "mode 0602 is not owner-only (others may write): run `chmod 600 \(path)`"),
            (0o660, "mode 0660 is not owner-only (group may read and write): run `chmod 600 \(path)`"),
        ]
        for (permissions, message) in cases {
            try write(secret + "\n", to: path, permissions: permissions)
            let error = tokenError { () throws(TokenFileError) in try TokenFile.read(path) }
            #expect(error == TokenFileError(path: path, message))
            #expect(error?.description.contains(secret) == false)
            let creating = tokenError { () throws(TokenFileError) in
                try TokenFile.readOrCreate(path, name: nil, comment: "test")
            }
            #expect(creating == TokenFileError(path: path, message), "an existing loose file is not replaced")
        }
        for permissions in [0o600, 0o400] {
            try write(secret + "\n", to: path, permissions: permissions)
            #expect(try TokenFile.read(path) == [Token(name: "default", secret: secret)])
        }
    }

    @Test(.enabled(if: geteuid() == 0, "only root can give a file to another user"))
    func aFileOwnedByAnotherUserIsRefused() throws {
        let scratch = try Paths.temporaryDirectory("orchion-tokens")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.path + "/join.token"
        try write("0123456789abcdef0123\n", to: path, permissions: 0o600)
        #expect(chown(path, 65534, 65534) == 0)
        #expect(
            tokenError { () throws(TokenFileError) in try TokenFile.read(path) }
                == TokenFileError(
                    path: path,
                    "owned by uid 65534, not by this user (uid 0); a token file must belong to the user the server runs as: run `chown 0 \(path)` and `chmod 600 \(path)`"
                ))
    }

    @Test func namedTokensCommentsAndOneBareToken() throws {
        let text = """
            # client tokens
            alice 0123456789abcdef0123

            bob\tfedcba9876543210fedc   # laptop
            ci.runner-1 aaaaaaaaaaaaaaaaaaaa#not-a-comment
            """
        #expect(
            try TokenFile.parse(text, path: "f") == [
                Token(name: "alice", secret: "0123456789abcdef0123"),
                Token(name: "bob", secret: "fedcba9876543210fedc"),
                Token(name: "ci.runner-1", secret: "aaaaaaaaaaaaaaaaaaaa#not-a-comment"),
            ])
        #expect(
            try TokenFile.parse("# join\n  0123456789abcdef0123  \n", path: "f") == [
                Token(name: "default", secret: "0123456789abcdef0123")
            ])
    }

    @Test func malformedFilesAreRefusedWithoutShowingATokenValue() {
        let secret = "0123456789abcdef0123"
        let other = "fedcba9876543210fedc"
        let cases: [(String, String)] = [
            (
                "\(secret)\nbob \(other)\n",
                "line 1: a bare token must be the file's only one; expected 'NAME TOKEN' with several"
            ),
            ("alice \(secret) extra\n", "line 1: expected 'NAME TOKEN' or one bare TOKEN, found 3 fields"),
            (
                "alice short\n",
                "line 1: the token of 'alice' has 5 characters, expected at least 16 (`openssl rand -hex 32` makes one)"
            ),
            ("alice \(secret)\nalice \(other)\n", "line 2: the name 'alice' is already used on line 1"),
            ("alice \(secret)\nbob \(secret)\n", "line 2: the same token as line 1"),
            ("al/ice \(secret)\n", "line 1: expected a name of letters, digits, '.', '_' and '-'"),
            ("alice \(secret)é\n", "line 1: expected a token of printable ASCII characters"),
            ("# nothing\n\n", "no token: expected 'NAME TOKEN' lines or one bare TOKEN"),
        ]
        for (text, message) in cases {
            let error = tokenError { () throws(TokenFileError) in try TokenFile.parse(text, path: "client.tokens") }
            #expect(error == TokenFileError(path: "client.tokens", message))
            #expect(error?.description.contains(secret) == false && error?.description.contains(other) == false)
        }
    }

    @Test func aTokenNeverPrintsItsValue() {
        let token = Token(name: "alice", secret: "0123456789abcdef0123")
        var dumped = ""
        dump(token, to: &dumped)
        for text in ["\(token)", String(reflecting: token), dumped, "\([token])"] {
            #expect(!text.contains(token.secret), "\(text)")
            #expect(text.contains("alice"))
        }
    }

    @Test func serverTokensCreateBothFilesAndTheEnvironmentOverridesTheJoinToken() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let state = scratch.directory.path + "/state"
        let config = try ServerConfig.load(scratch.sources(environment: ["ORCHION_STATE_DIR": state]))
        let tokens = try ServerTokens.load(config)
        #expect(try mode(state + "/join.token") == 0o600 && mode(state + "/client.tokens") == 0o600)
        #expect(tokens.clients.map(\.name) == ["default"])
        #expect(
            tokens.notes == [
                "created the join token file \(state)/join.token",
                "created the client credential file \(state)/client.credential (an admin token)",
                "created the client tokens file \(state)/client.tokens (1 token)",
            ])
        let authenticator = tokens.authenticator
        #expect(try authenticator.authenticate("Bearer " + tokens.join.secret) == .agent)
        // The first-start token: its secret only in this machine's credential file, its hash in client.tokens.
        #expect(try mode(state + "/client.credential") == 0o600)
        let secret = try ClientCredentialFile.read(state + "/client.credential")
        let client = (secret: secret, entry: try #require(tokens.clients.first))
        #expect(try authenticator.authenticate("Bearer " + secret) == .client("default", .admin))
        let file = try String(contentsOfFile: state + "/client.tokens", encoding: .utf8)
        #expect(!file.contains(secret) && file.contains("default sha256:" + TokenDigest.hex(secret)))
        #expect(client.entry.scope == .admin && client.entry.expires == nil)
        let reread = try ServerTokens.load(config)
        #expect(reread.join == tokens.join && reread.clients == tokens.clients)

        let fromEnvironment = "feedfacefeedfacefeedface"
        let other = scratch.directory.path + "/other"
        let overridden = try ServerTokens.load(
            ServerConfig.load(
                scratch.sources(environment: ["ORCHION_STATE_DIR": other, "ORCHION_JOIN_TOKEN": fromEnvironment])))
        #expect(overridden.join.secret == fromEnvironment)
        #expect(!FileManager.default.fileExists(atPath: other + "/join.token"), "the join file is not created")
        #expect(overridden.notes.first == "join token from ORCHION_JOIN_TOKEN")
        #expect(
            !(overridden.notes + tokens.notes).contains { $0.contains(fromEnvironment) || $0.contains(client.secret) })
        let shortConfig = try ServerConfig.load(
            scratch.sources(environment: ["ORCHION_STATE_DIR": other, "ORCHION_JOIN_TOKEN": "tooshort"]))
        let short = tokenError { () throws(TokenFileError) in try ServerTokens.load(shortConfig) }
        #expect(
            short?.description
                == "ORCHION_JOIN_TOKEN: line 1: the token of 'default' has 8 characters, expected at least 16 (`openssl rand -hex 32` makes one)"
        )
    }

    @Test func aClientTokenEqualToTheJoinTokenIsRefused() throws {
        let scratch = try ConfigScratch()
        defer { scratch.remove() }
        let secret = "0123456789abcdef0123456789"
        let state = scratch.directory.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try write("ci \(secret)\n", to: state + "/client.tokens", permissions: 0o600)
        let config = try ServerConfig.load(
            scratch.sources(environment: ["ORCHION_STATE_DIR": state, "ORCHION_JOIN_TOKEN": secret]))
        let error = tokenError { () throws(TokenFileError) in try ServerTokens.load(config) }
        #expect(error == TokenFileError(path: state + "/client.tokens", "a client token is the same as the join token"))
    }
}
