import Foundation
import TestSupport
import Testing

/// The real `orchion` binary, as a user runs it.
@Suite struct PluginCLITests {
    private func orchion(_ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
        try runCommand([Paths.orchion] + arguments, environment: environment, timeout: 60)
    }

    @Test func listShowsTheBuiltinPluginsWithNoFlags() throws {
        let result = try orchion(["plugin", "list"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("NAME") == true)
        for name in ["round-robin", "bin-packing", "spread", "gpu-affinity", "exec"] {
            #expect(
                lines.contains { $0.hasPrefix(name + " ") && $0.contains(" loaded ") },
                "\(name) missing:\n\(result.stdout)")
        }
    }

    @Test func listAsJSONNamesKindsAndStates() throws {
        let result = try orchion(["plugin", "list", "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let builtins = entries.filter { ($0["file"] as? String)?.contains("liborchion-") == true }
        #expect(builtins.filter { $0["kind"] as? String == "scheduler" }.count == 4)
        #expect(
            builtins.filter { $0["kind"] as? String == "executor" }.compactMap { $0["name"] as? String } == ["exec"])
        #expect(builtins.allSatisfy { $0["state"] as? String == "loaded" && $0["abi"] as? String == "1.0" })
    }

    @Test func refusedFilesAreListedWithTheirReasonAndOthersStillLoad() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = try CPlugins.fixture(
            "broken.so", in: dir, defines: ["FIXTURE_MAJOR=2", "FIXTURE_NAME=\"broken\""])
        try CPlugins.fixture("extra.so", in: dir, defines: ["FIXTURE_NAME=\"extra\""])
        try "not a plugin".write(to: dir.appendingPathComponent("readme.so"), atomically: true, encoding: .utf8)
        let result = try orchion(["plugin", "list", "--plugins-dir", dir.path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("refused: \(broken): incompatible ABI: found major 2, expected 1"))
        #expect(result.stdout.contains("not a shared object: found bytes 6e 6f 74 20, expected an ELF file"))
        #expect(result.stdout.split(separator: "\n").contains { $0.hasPrefix("extra ") && $0.contains(" loaded ") })
        #expect(result.stdout.contains("bin-packing"), "the built-ins still load")
    }

    @Test func theEnvironmentVariableAddsDirectoriesAndRootMustAskForThem() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try CPlugins.fixture("env.so", in: dir, defines: ["FIXTURE_NAME=\"from-env\""])
        var environment = ProcessInfo.processInfo.environment
        environment["ORCHION_PLUGINS_PATH"] = "/nonexistent:" + dir.path
        let asked = try orchion(["plugin", "list", "--json", "--search-user-dirs"], environment: environment)
        #expect(asked.stdout.contains("\"name\":\"from-env\""))
        let plain = try orchion(["plugin", "list", "--json"], environment: environment)
        #expect(plain.stdout.contains("\"name\":\"from-env\"") == (geteuid() != 0), "\(plain.stdout)")
    }

    @Test func inspectReadsTheDescriptorOrExplainsTheRefusal() throws {
        let good = try orchion(["plugin", "inspect", Paths.builtin("gpu-affinity")])
        #expect(good.status == 0)
        #expect(good.stdout.contains("name:        gpu-affinity") && good.stdout.contains("kind:        scheduler"))
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("new.so", in: dir, defines: ["FIXTURE_MINOR=99"])
        let bad = try orchion(["plugin", "inspect", file])
        #expect(bad.status == 2)
        #expect(
            bad.stderr.contains("refused: \(file): plugin needs a newer host: found ABI minor 99, expected at most 0"))
    }

    @Test func checkPassesGoodPluginsAndCatchesInvalidPlacements() throws {
        for name in ["bin-packing", "round-robin", "spread", "gpu-affinity", "exec"] {
            let result = try orchion(["plugin", "check", Paths.builtin(name)])
            #expect(result.status == 0 && result.stdout.hasSuffix("check passed\n"), "\(name): \(result.stdout)")
        }
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let greedy = try CPlugins.fixture("greedy.so", in: dir, defines: ["FIXTURE_MODE=2"])
        let result = try orchion(["plugin", "check", greedy])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  placed 12 of 64 jobs on 32 nodes (2 not ready); 52 pending, 52 invalid"))
        #expect(result.stdout.contains("fixture placed job"))
        #expect(result.stdout.hasSuffix("check FAILED\n"))
    }

    @Test func theExampleBuiltWithCCIsListedAndChecked() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let make = try runCommand([
            "make", "-C", Paths.root.appendingPathComponent("sdk/c/examples").path, "OUT=\(dir.path)",
        ])
        #expect(make.status == 0)
        let list = try orchion(["plugin", "list", "--plugins-dir", dir.path])
        #expect(list.stdout.split(separator: "\n").contains { $0.hasPrefix("prefer-arm ") && $0.contains(" loaded ") })
        let check = try orchion([
            "plugin", "check", dir.appendingPathComponent("orchion-prefer-arm.so").path, "--config", "arch=x86_64",
        ])
        #expect(check.status == 0, "\(check.stdout)")
    }

    @Test func anInstalledLayoutFindsItsSystemPlugins() throws {
        let prefix = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: prefix) }
        let install = try runCommand(
            [
                "bash", Paths.root.appendingPathComponent("deploy/install.sh").path, "--prefix", prefix.path,
                "--build-dir", Paths.build.path,
            ])
        #expect(install.status == 0, "\(install.stderr)")
        let result = try runCommand([prefix.appendingPathComponent("bin/orchion").path, "plugin", "list"])
        let pluginDir = prefix.appendingPathComponent("lib/orchion/plugins").path
        for name in ["round-robin", "bin-packing", "spread", "gpu-affinity", "exec"] {
            #expect(result.stdout.contains("\(pluginDir)/liborchion-\(name).so"), "\(result.stdout)")
        }
    }
}
