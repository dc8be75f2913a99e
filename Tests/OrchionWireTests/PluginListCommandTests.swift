import Foundation
import OrchionProto
import TestSupport
import Testing

/// `orchion plugin list --server` against a real APIServer on 127.0.0.1.
@Suite(.serialized) struct PluginListCommandTests {
    private static let plugins: [Orchion_V1_Plugin] = [
        .with {
            $0.name = "bin-packing"
            $0.kind = .scheduler
            $0.version = "0.1.0"
            $0.abi = "1.0"
            $0.file = "plugins/liborchion-bin-packing.so"
            $0.state = .loaded
            $0.isDefault = true
        },
        .with {
            $0.name = "garbage"
            $0.kind = .scheduler
            $0.version = "0.0.1"
            $0.abi = "1.0"
            $0.file = "plugins/garbage.so"
            $0.state = .quarantined
            $0.reason = "3 consecutive bad rounds; last: node index 7 does not exist: expected 0..<2"
        },
    ]

    /// Writes `token` to a file with `mode` in `dir`.
    private func tokenFile(_ token: String, mode: mode_t, in dir: URL) throws -> String {
        let file = dir.appendingPathComponent("token").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data((token + "\n").utf8)))
        #expect(chmod(file, mode) == 0)
        return file
    }

    @Test func listsWhatTheServerReportsWithTheQuarantinedPluginShownSo() async throws {
        let fixture = try await WireFixture()
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        fixture.control.setPlugins(Self.plugins)
        let server = "127.0.0.1:\(fixture.port)"
        let file = try tokenFile(WireFixture.clientToken, mode: 0o600, in: dir)

        let table = try runCommand([Paths.orchion, "plugin", "list", "--server", server, "--token-file", file])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(
            lines.first?.split(separator: " ").map(String.init) == [
                "NAME", "KIND", "VERSION", "ABI", "STATE", "DEFAULT", "FILE",
            ])
        #expect(
            lines.dropFirst().first?.split(separator: " ").map(String.init)
                == ["bin-packing", "scheduler", "0.1.0", "1.0", "loaded", "yes", "plugins/liborchion-bin-packing.so"])
        #expect(
            lines.dropFirst(2).first?.split(separator: " ").map(String.init)
                == ["garbage", "scheduler", "0.0.1", "1.0", "quarantined", "plugins/garbage.so"])
        #expect(
            table.stdout.contains(
                "\nquarantined: garbage: 3 consecutive bad rounds; last: node index 7 does not exist: expected 0..<2\n")
        )

        // The token from the environment, JSON out.
        var environment = ProcessInfo.processInfo.environment
        environment["ORCHION_TOKEN"] = WireFixture.clientToken
        let json = try runCommand(
            [Paths.orchion, "plugin", "list", "--server", server, "--json"], environment: environment)
        #expect(json.status == 0, "\(json.stderr)")
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(decoded?.map { $0["state"] as? String } == ["loaded", "quarantined"])
        #expect(decoded?.map { $0["is_default"] as? Bool } == [true, false])
        #expect(decoded?.last?["reason"] as? String == Self.plugins[1].reason)
        try await fixture.stop()
    }

    @Test func aWrongTokenAWorldReadableTokenFileAndABadAddressAreRefusedClearly() async throws {
        let fixture = try await WireFixture()
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = "127.0.0.1:\(fixture.port)"

        let wrong = try tokenFile("not-the-token-of-this-server", mode: 0o600, in: dir)
        let refused = try runCommand([Paths.orchion, "plugin", "list", "--server", server, "--token-file", wrong])
        #expect(refused.status == 1 && refused.stdout.isEmpty)
        #expect(refused.stderr.contains("orchion plugin list: ListPlugins on \(server) failed:"), "\(refused.stderr)")
        #expect(refused.stderr.lowercased().contains("unauthenticated"), "\(refused.stderr)")

        let open = try tokenFile(WireFixture.clientToken, mode: 0o644, in: dir)
        let readable = try runCommand([Paths.orchion, "plugin", "list", "--server", server, "--token-file", open])
        #expect(readable.status == 1)
        #expect(
            readable.stderr.contains("mode 0644 is not owner-only"), "\(readable.stderr)"
        )

        // The server's client tokens file keeps hashes: named as such, with the file to use.
        let hashed = try tokenFile("default sha256:" + String(repeating: "ab", count: 32), mode: 0o600, in: dir)
        let hash = try runCommand([Paths.orchion, "plugin", "list", "--server", server, "--token-file", hashed])
        #expect(hash.status == 1 && hash.stderr.contains("found a token's hash"), "\(hash.stderr)")
        #expect(hash.stderr.contains("client.credential"), "\(hash.stderr)")

        let bad = try runCommand([Paths.orchion, "plugin", "list", "--server", "example"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("--server: expected HOST:PORT, found 'example'"), "\(bad.stderr)")
        try await fixture.stop()
    }
}
