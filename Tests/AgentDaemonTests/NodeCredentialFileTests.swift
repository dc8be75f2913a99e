import Foundation
import OrchionWire
import TestSupport
import Testing

@testable import OrchionAgentDaemon

/// The node credential's file in the state directory, and how settings use it.
@Suite struct NodeCredentialFileTests {
    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    private let first = NodeCredential(nodeID: "n1", token: String(repeating: "a1", count: 32))
    private let second = NodeCredential(nodeID: "n1", token: String(repeating: "b2", count: 32))

    @Test func aWrittenCredentialIsOwnerOnlyAndReplacedWhole() throws {
        let directory = try Paths.temporaryDirectory("agent-credential")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = NodeCredentialFile.path(in: directory.path)
        #expect(try NodeCredentialFile.read(path) == nil, "no file: no credential")
        // A wide leftover temporary file of a crashed write does not widen the new one.
        FileManager.default.createFile(atPath: path + ".new", contents: Data("stale".utf8))
        chmod(path + ".new", 0o644)
        try NodeCredentialFile.write(first, to: path)
        #expect(try mode(path) == 0o600)
        #expect(try NodeCredentialFile.read(path) == first)
        try NodeCredentialFile.write(second, to: path)
        #expect(try NodeCredentialFile.read(path) == second)
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(first.token) && text.contains("node n1\n"))
    }

    @Test func anUnusableFileIsRefusedWithWhatIsWrong() throws {
        let directory = try Paths.temporaryDirectory("agent-credential")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = NodeCredentialFile.path(in: directory.path)
        try NodeCredentialFile.write(first, to: path)
        chmod(path, 0o640)
        #expect(
            throws: AgentSettingsError.credentialFile(
                path, "is readable by others (mode 640); expected owner-only: chmod 600 \(path)")
        ) { try NodeCredentialFile.read(path) }
        chmod(path, 0o600)
        for (text, problem) in [
            ("node n1\n", "lacks its 'node ID' or 'credential SECRET' line"),
            ("node n1\ncredential short\n", "holds a credential that is not 16 to 512 printable characters"),
            (
                "node n1\nnode n2\n",
                "has an unexpected or repeated line; expected 'node ID' and 'credential SECRET' once each"
            ),
            ("node n1 extra\n", "has a line of 3 words; expected 'node ID' and 'credential SECRET'"),
        ] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            #expect(throws: AgentSettingsError.credentialFile(path, problem), "\(text.debugDescription)") {
                try NodeCredentialFile.read(path)
            }
        }
    }

    @Test func aKeptCredentialOfThisNodeNeedsNoJoinTokenAndAnotherNodesIsNotUsed() throws {
        let directory = try Paths.temporaryDirectory("agent-credential")
        defer { try? FileManager.default.removeItem(at: directory) }
        try NodeCredentialFile.write(first, to: NodeCredentialFile.path(in: directory.path))
        var flags = AgentFlags()
        flags.nodeID = "n1"
        flags.stateDirectory = directory.path
        let settings = try AgentSettings.resolve(flags, environment: [:])
        #expect(settings.nodeCredential == first && settings.joinToken == nil)
        flags.nodeID = "n2"
        #expect(throws: AgentSettingsError.missingToken) { try AgentSettings.resolve(flags, environment: [:]) }
        let joining = try AgentSettings.resolve(flags, environment: ["ORCHION_JOIN_TOKEN": "join"])
        #expect(joining.nodeCredential == nil && joining.joinToken == "join")
    }

    @Test func theRefusalLineSaysWhichNodeWasRemovedAndHowToLetItBack() {
        let removed = AgentConnection.refusalLine(
            node: "n1", credentialRefused: Authenticator.removedMessage("n1"),
            joinRefused: Authenticator.removedMessage("n1"))
        #expect(removed.hasPrefix("node n1 was removed from the cluster"))
        #expect(removed.contains("`orchion node admit n1`") && removed.hasSuffix("exiting with status 77"))
        #expect(!removed.contains("\n"))
        let unknown = AgentConnection.refusalLine(
            node: "n1", credentialRefused: "invalid bearer token", joinRefused: nil)
        #expect(unknown.contains("its node credential (invalid bearer token) and no join token is configured"))
        #expect(unknown.contains("`orchion node admit n1`") && unknown.hasSuffix("exiting with status 77"))
    }
}
