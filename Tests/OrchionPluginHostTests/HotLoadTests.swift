import Foundation
import OrchionLoop
import OrchionPluginHost
import TestSupport
import Testing

/// A `.so` dropped into a watched directory is loaded without a restart.
@Suite struct HotLoadTests {
    @Test func droppedPluginsAppearAndBrokenOnesAreRefused() async throws {
        let watched = try Paths.temporaryDirectory()
        let staging = try Paths.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: watched)
            try? FileManager.default.removeItem(at: staging)
        }
        let good = try CPlugins.fixture("hot.so", in: staging, defines: ["FIXTURE_NAME=\"hot\""])
        let bad = try CPlugins.fixture("cold.so", in: staging, defines: ["FIXTURE_MAJOR=9"])
        let thread = try LoopThread()
        let loop = thread.loop
        let directory = PluginDirectory(path: watched.path, source: .flag)

        let started: [String] = try await loop.submit {
            let registry = PluginRegistry()
            let watcher = PluginWatcher(loop: loop, registry: registry, directories: [directory]) { entry in
                Seen.shared.add(entry)
            }
            Seen.shared.watcher = watcher
            return try watcher.start()
        }
        #expect(started == [watched.path])
        // Install atomically: rename into place.
        try FileManager.default.moveItem(atPath: good, toPath: watched.appendingPathComponent("hot.so").path)
        try FileManager.default.moveItem(atPath: bad, toPath: watched.appendingPathComponent("cold.so").path)

        let deadline = Date().addingTimeInterval(10)
        while Seen.shared.entries.count < 2 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let entries = Seen.shared.entries.sorted { $0.file < $1.file }

        // A half-written file is refused (not yet an ELF file); once the whole
        // file is renamed over it, it loads without a restart.
        let whole = try CPlugins.fixture("late.so", in: staging, defines: ["FIXTURE_NAME=\"late\""])
        let half = try Data(contentsOf: URL(fileURLWithPath: whole)).prefix(10)
        try half.write(to: watched.appendingPathComponent("late.so"))
        while Seen.shared.entries.count < 3 && Date() < deadline.addingTimeInterval(10) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(rename(whole, watched.appendingPathComponent("late.so").path) == 0, "an atomic replace")
        while Seen.shared.entries.count < 4 && Date() < deadline.addingTimeInterval(10) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let halfEntry = Seen.shared.entries.dropFirst(2).first
        let retried = Seen.shared.entries.dropFirst(3).first
        try await loop.submit { Seen.shared.watcher?.close() }
        try thread.shutdown()

        #expect(entries.count == 2)
        #expect(entries.last?.info?.name == "hot" && entries.last?.state == .loaded)
        #expect(entries.first?.state.reason?.contains("incompatible ABI: found major 9, expected 1") == true)
        #expect(halfEntry?.state.reason?.contains("not a shared object: found a truncated ELF header") == true)
        #expect(retried?.info?.name == "late" && retried?.state == .loaded)
    }
}

/// What the watcher reported (written on the loop, read by the test).
private final class Seen: @unchecked Sendable {
    static let shared = Seen()
    private let lock = NSLock()
    private var list: [PluginEntry] = []
    var watcher: PluginWatcher?

    func add(_ entry: PluginEntry) { lock.withLock { list.append(entry) } }

    var entries: [PluginEntry] { lock.withLock { list } }
}
