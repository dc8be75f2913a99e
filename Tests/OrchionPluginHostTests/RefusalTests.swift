import Foundation
import OrchionPluginHost
import TestSupport
import Testing

/// Every way a plugin file can be refused, each with a real shared object.
@Suite struct RefusalTests {
    @Test func notAnELFFile() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("notes.so").path
        try "just text".write(toFile: file, atomically: true, encoding: .utf8)
        let error = try #require(refusal(file))
        #expect(error == .notELF(file: file, found: "bytes 6a 75 73 74"))
        #expect(error.description == "\(file): not a shared object: found bytes 6a 75 73 74, expected an ELF file")
    }

    @Test func wrongArchitecture() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try CPlugins.fixture("good.so", in: dir)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        bytes[18] = 183  // e_machine = EM_AARCH64
        bytes[19] = 0
        let file = dir.appendingPathComponent("arm64.so").path
        try bytes.write(to: URL(fileURLWithPath: file))
        let error = try #require(refusal(file))
        #expect(error == .wrongArchitecture(file: file, found: "64-bit aarch64", expected: "64-bit x86_64"))
    }

    @Test func missingEntrySymbol() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("noentry.so", in: dir, defines: ["FIXTURE_NO_ENTRY"])
        let error = try #require(refusal(file))
        #expect(error == .missingEntry(file: file, symbol: "orchion_plugin_entry"))
        #expect(error.description.contains("found no symbol orchion_plugin_entry"))
    }

    @Test func abiMajorMismatch() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("major.so", in: dir, defines: ["FIXTURE_MAJOR=2"])
        let error = try #require(refusal(file))
        #expect(error == .abiMajorMismatch(file: file, found: 2, expected: 1))
        #expect(error.description == "\(file): incompatible ABI: found major 2, expected 1")
    }

    @Test func abiMinorTooNew() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("minor.so", in: dir, defines: ["FIXTURE_MINOR=7"])
        let error = try #require(refusal(file))
        #expect(error == .abiMinorTooNew(file: file, found: 7, expected: HostABI.minor))
    }

    @Test func descriptorTooSmall() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("small.so", in: dir, defines: ["FIXTURE_SIZE=16"])
        guard case .structTooSmall(file, "orchion_plugin_descriptor", 16, let expected)? = refusal(file) else {
            Issue.record("expected structTooSmall, got \(String(describing: refusal(file)))")
            return
        }
        #expect(expected > 16)
        #expect(expected == 48, "docs/plugin-abi.md quotes the ABI 1.0 minimum")
    }

    @Test func unknownKindAndInvalidName() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let kind = try CPlugins.fixture("kind.so", in: dir, defines: ["FIXTURE_KIND=9"])
        #expect(refusal(kind) == .unknownKind(file: kind, found: 9))
        let name = try CPlugins.fixture("name.so", in: dir, defines: ["FIXTURE_NAME=\"Bad Name\""])
        #expect(
            refusal(name)
                == .invalidDescriptor(
                    file: name, field: "name", expected: "1–63 characters of [a-z0-9-]", found: "'Bad Name'"))
    }

    @Test func initFailureCarriesThePluginsOwnMessage() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("initfail.so", in: dir, defines: ["FIXTURE_INIT_FAIL"])
        let library = try PluginLibrary.open(file)
        #expect(
            throws: PluginError.initFailed(
                file: file, name: "fixture", status: 4, message: "cannot reach the license server at 127.0.0.1:1")
        ) {
            _ = try SchedulerPlugin(library)
        }
    }

    @Test func duplicateNamesAreRefusedAndTheHostKeepsGoing() throws {
        let first = try Paths.temporaryDirectory()
        let second = try Paths.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        let winner = try CPlugins.fixture("a.so", in: first, defines: ["FIXTURE_NAME=\"twin\""])
        let loser = try CPlugins.fixture("b.so", in: second, defines: ["FIXTURE_NAME=\"twin\""])
        let broken = try CPlugins.fixture("c.so", in: second, defines: ["FIXTURE_MAJOR=3"])
        let other = try CPlugins.fixture("d.so", in: second, defines: ["FIXTURE_NAME=\"other\""])
        let registry = PluginRegistry()
        registry.scan([
            PluginDirectory(path: first.path, source: .flag), PluginDirectory(path: second.path, source: .flag),
        ])
        let states = Dictionary(uniqueKeysWithValues: registry.entries.map { ($0.file, $0.state) })
        #expect(states[winner] == .loaded)
        #expect(states[loser] == .refused(.duplicateName(file: loser, name: "twin", loadedFrom: winner)))
        #expect(states[broken] == .refused(.abiMajorMismatch(file: broken, found: 3, expected: 1)))
        #expect(states[other] == .loaded, "refusals never stop the scan")
        #expect(registry.library(named: "twin")?.info.file == winner)
    }
}
