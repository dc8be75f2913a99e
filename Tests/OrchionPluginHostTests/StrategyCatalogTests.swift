import Foundation
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import TestSupport
import Testing

/// Scheduler plugins dropped in, replaced or removed while the loop runs
/// become (or stop being) strategies usable by name.
@Suite struct StrategyCatalogTests {
    private static let gib: UInt64 = 1 << 30

    /// Polls `condition` every 20 ms for at most 30 s; returns whether it held.
    private func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Builds fixture `name` in `mode` in `staging` and renames it into `watched` as `file`.
    private func drop(
        _ name: String, mode: Int, as file: String? = nil, from staging: URL, into watched: URL, extra: [String] = []
    ) throws {
        let built = try CPlugins.fixture(
            ".\(name)-\(mode).so", in: staging, defines: ["FIXTURE_MODE=\(mode)", "FIXTURE_NAME=\"\(name)\""] + extra)
        #expect(rename(built, watched.appendingPathComponent(file ?? "\(name).so").path) == 0)
    }

    private func jobs(_ prefix: String, _ count: Int) -> [PendingJob] {
        (0..<count).map { PendingJob(id: "\(prefix)-\($0)", requirements: JobRequirements(cpuMillis: 800)) }
    }

    @Test func droppedReplacedAndRemovedPluginsFollowTheDirectory() async throws {
        let watched = try Paths.temporaryDirectory()
        let staging = try Paths.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: watched)
            try? FileManager.default.removeItem(at: staging)
        }
        try drop("early", mode: 0, from: staging, into: watched)
        let service = try SchedulingService(failureLimit: 1)
        defer { service.shutdown() }
        try service.upsert(Node(id: "small", cpuMillis: 1000, memoryBytes: 2 * Self.gib))
        try service.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))
        let thread = try LoopThread()
        let loop = thread.loop
        let held: LoopBound<(StrategyCatalog, PluginWatcher)> = try await loop.submit {
            let registry = PluginRegistry()
            let catalog = StrategyCatalog(registry: registry, service: service, loop: loop)
            let watcher = PluginWatcher(
                loop: loop, registry: registry, directories: [PluginDirectory(path: watched.path, source: .flag)]
            ) { catalog.admitted($0) }
            watcher.onRemoved = { catalog.removed($0) }
            try watcher.start()
            watcher.rescan()  // what is there at start, off the loop thread like any later file
            return LoopBound((catalog, watcher), loop: loop)
        }
        func names() -> [String] { service.strategies().map(\.name) }
        func listing() async throws -> [String: PluginListing] {
            try await loop.submit {
                Dictionary(
                    held.wrapped.0.plugins(defaultStrategy: "early").map { ($0.name, $0) },
                    uniquingKeysWith: { first, _ in first })
            }
        }

        #expect(try await eventually { names() == ["early"] }, "present at start: \(names())")
        try drop("hot", mode: 0, from: staging, into: watched)
        try drop("bad", mode: 1, from: staging, into: watched)
        try drop("broken", mode: 0, from: staging, into: watched, extra: ["FIXTURE_INIT_FAIL"])
        #expect(try await eventually { names() == ["bad", "early", "hot"] }, "dropped in: \(names())")
        #expect(try await eventually { try await listing()["broken"]?.state == .refused })

        let hot = await service.schedule(jobs("h", 2), strategy: "hot")
        #expect(hot.strategy == "hot" && !hot.fellBack && hot.assignments.map(\.nodeID) == ["small", "big"])
        let bad = await service.schedule(jobs("b", 1), strategy: "bad")
        let reason = try #require(bad.quarantined)
        let listed = try await listing()
        #expect(listed["bad"]?.state == .quarantined && listed["bad"]?.reason == reason)
        #expect(listed["hot"]?.state == .loaded && listed["hot"]?.isDefault == false && listed["hot"]?.reason == "")
        #expect(listed["early"]?.isDefault == true && listed["early"]?.kind == .scheduler)
        #expect(listed["early"]?.abi == "1.0" && listed["early"]?.version == "0.0.1")
        #expect(
            listed["broken"]?.reason.contains("cannot reach the license server at 127.0.0.1:1") == true,
            "\(listed["broken"]?.reason ?? "")")
        #expect(names() == ["bad", "early", "hot"], "an init that failed installs nothing")

        // Removed: batches naming it fall back, and it leaves the listing.
        #expect(unlink(watched.appendingPathComponent("hot.so").path) == 0)
        #expect(try await eventually { names() == ["bad", "early"] }, "removed: \(names())")
        let gone = await service.schedule(jobs("g", 1), strategy: "hot")
        #expect(gone.fallbackReason == "no strategy named hot is installed")
        #expect(try await listing()["hot"] == nil)

        // Replaced by renaming a new build over it: the new code places.
        // Mode 2 puts every job on node 0 ("small"), so only one of two fits
        // and the other placement is refused (which quarantines it here).
        try drop("early", mode: 2, from: staging, into: watched)
        #expect(
            try await eventually {
                let result = await service.schedule(jobs("r", 2), strategy: "early")
                return result.quarantined?.contains("early placed job r-1 invalidly") == true
            }, "the replacement places")
        #expect(names() == ["bad", "early"])

        try await loop.submit { held.wrapped.1.close() }
        try thread.shutdown()
    }
}
