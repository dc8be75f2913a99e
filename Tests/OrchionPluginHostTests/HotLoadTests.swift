import Foundation
import OrchionLoop
import OrchionPluginHost
import TestSupport
import Testing

/// A `.so` dropped into a watched directory is loaded without a restart.
@Suite struct HotLoadTests {
    /// Polls `condition` every 20 ms until it holds or `seconds` pass;
    /// returns whether it held.
    private func eventually(within seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Starts a watcher on `directory` on `loop`, recording into `seen`.
    private func watch(
        _ directory: URL, loop: EventLoop, seen: Seen, hotLoad: Bool = true, probe: PluginProbe? = nil
    ) async throws -> [String] {
        let source = PluginDirectory(path: directory.path, source: .flag)
        return try await loop.submit {
            let watcher = PluginWatcher(
                loop: loop, registry: PluginRegistry(), directories: [source], hotLoad: hotLoad
            ) { entry in
                seen.add(entry)
            }
            watcher.probe = probe
            seen.watcher = watcher
            return try watcher.start()
        }
    }

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
        let seen = Seen()
        let started = try await watch(watched, loop: thread.loop, seen: seen)
        #expect(started == [watched.path])
        // Install atomically: rename into place.
        try FileManager.default.moveItem(atPath: good, toPath: watched.appendingPathComponent("hot.so").path)
        try FileManager.default.moveItem(atPath: bad, toPath: watched.appendingPathComponent("cold.so").path)
        let arrived = try await eventually { seen.entries.count >= 2 }
        try await thread.loop.submit { seen.watcher?.close() }
        try thread.shutdown()

        #expect(arrived)
        let entries = seen.entries.sorted { $0.file < $1.file }
        #expect(entries.count == 2)
        #expect(entries.last?.info?.name == "hot" && entries.last?.state == .loaded)
        #expect(entries.first?.state.reason?.contains("incompatible ABI: found major 9, expected 1") == true)
    }

    @Test func aHalfWrittenFileIsRefusedThenLoadedOnceReplacedWhole() async throws {
        let watched = try Paths.temporaryDirectory()
        let staging = try Paths.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: watched)
            try? FileManager.default.removeItem(at: staging)
        }
        let thread = try LoopThread()
        let seen = Seen()
        _ = try await watch(watched, loop: thread.loop, seen: seen)
        // A half-written file is refused (not yet an ELF file); once the whole
        // file is renamed over it, it loads without a restart.
        let whole = try CPlugins.fixture("late.so", in: staging, defines: ["FIXTURE_NAME=\"late\""])
        let half = try Data(contentsOf: URL(fileURLWithPath: whole)).prefix(10)
        let halfFile = staging.appendingPathComponent("half.so")
        try half.write(to: halfFile)
        #expect(rename(halfFile.path, watched.appendingPathComponent("late.so").path) == 0)
        let refused = try await eventually { seen.entries.count >= 1 }
        #expect(rename(whole, watched.appendingPathComponent("late.so").path) == 0, "an atomic replace")
        let retried = try await eventually { seen.entries.count >= 2 }
        try await thread.loop.submit { seen.watcher?.close() }
        try thread.shutdown()

        #expect(refused && retried)
        let entries = seen.entries
        #expect(entries.first?.state.reason?.contains("not a shared object: found a truncated ELF header") == true)
        #expect(entries.dropFirst().first?.info?.name == "late" && entries.dropFirst().first?.state == .loaded)
    }

    @Test func withHotLoadingOffNoDirectoryIsWatched() async throws {
        let watched = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: watched) }
        let thread = try LoopThread()
        let seen = Seen()
        let started = try await watch(watched, loop: thread.loop, seen: seen, hotLoad: false)
        let hotLoad = try await thread.loop.submit { seen.watcher?.hotLoad }
        try await thread.loop.submit { seen.watcher?.close() }
        try thread.shutdown()
        #expect(started.isEmpty)
        #expect(hotLoad == false)
    }

    @Test func aHotLoadedFileGetsTheSameChecksAsAnyOther() async throws {
        let watched = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: watched) }
        let thread = try LoopThread()
        let seen = Seen()
        _ = try await watch(watched, loop: thread.loop, seen: seen)
        #expect(mkfifo(watched.appendingPathComponent("pipe.so").path, 0o644) == 0)
        let shared = try CPlugins.fixture(".staged.so", in: watched, defines: ["FIXTURE_NAME=\"shared\""])
        #expect(chmod(shared, 0o666) == 0)
        #expect(rename(shared, watched.appendingPathComponent("shared.so").path) == 0)
        let arrived = try await eventually { seen.entries.count >= 2 }
        try await thread.loop.submit { seen.watcher?.close() }
        try thread.shutdown()

        #expect(arrived)
        let reasons = Dictionary(
            seen.entries.map { ($0.file.split(separator: "/").last.map(String.init) ?? "", $0.state.reason ?? "") },
            uniquingKeysWith: { first, _ in first })
        #expect(reasons["pipe.so"]?.contains("not a regular file: found a FIFO") == true, "\(reasons)")
        #expect(reasons["shared.so"]?.contains("is world-writable (mode 666)") == true, "\(reasons)")
    }
}

extension HotLoadTests {
    @Test func withAProbeAConstructorThatExitsIsRefusedWithoutKillingTheHost() async throws {
        let watched = try Paths.temporaryDirectory()
        let staging = try Paths.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: watched)
            try? FileManager.default.removeItem(at: staging)
        }
        let exits = try CPlugins.hostile("exits.so", in: staging, defines: ["HOSTILE_CTOR_EXIT=3"])
        let crashes = try CPlugins.hostile("crashes.so", in: staging, defines: ["HOSTILE_CTOR_SEGV"])
        let good = try CPlugins.fixture("fine.so", in: staging, defines: ["FIXTURE_NAME=\"fine\""])
        let thread = try LoopThread()
        let seen = Seen()
        let probe = PluginProbe(executable: Paths.orchion, timeoutMillis: 10_000)
        _ = try await watch(watched, loop: thread.loop, seen: seen, probe: probe)
        for file in [exits, crashes, good] {
            let name = URL(fileURLWithPath: file).lastPathComponent
            #expect(rename(file, watched.appendingPathComponent(name).path) == 0)
        }
        let arrived = try await eventually(within: 30) { seen.entries.count >= 3 }
        try await thread.loop.submit { seen.watcher?.close() }
        try thread.shutdown()

        // Had the in-process dlopen run, this test process would be gone.
        #expect(arrived)
        let byName = Dictionary(
            seen.entries.map { (URL(fileURLWithPath: $0.file).lastPathComponent, $0) },
            uniquingKeysWith: { first, _ in first })
        #expect(byName["exits.so"]?.state.reason?.contains("plugin called exit(3) while loading") == true)
        #expect(byName["crashes.so"]?.state.reason?.contains("crashed with signal 11 (SIGSEGV)") == true)
        #expect(byName["fine.so"]?.state == .loaded && byName["fine.so"]?.info?.name == "fine")
    }
}

/// What a watcher reported (written on the loop, read by the test).
private final class Seen: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [PluginEntry] = []
    /// Touched on the loop thread only.
    var watcher: PluginWatcher?

    func add(_ entry: PluginEntry) { lock.withLock { list.append(entry) } }

    var entries: [PluginEntry] { lock.withLock { list } }
}
