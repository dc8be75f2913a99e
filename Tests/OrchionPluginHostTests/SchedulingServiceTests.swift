import Foundation
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import Synchronization
import TestSupport
import Testing

/// Several named strategies on one scheduler thread and one cluster view.
@Suite struct SchedulingServiceTests {
    private static let gib: UInt64 = 1 << 30

    /// Builds and opens the fixture plugin named `name` in `mode`.
    private func library(_ name: String, mode: Int, in dir: URL) throws -> PluginLibrary {
        try PluginLibrary.open(
            try CPlugins.fixture("\(name).so", in: dir, defines: ["FIXTURE_MODE=\(mode)", "FIXTURE_NAME=\"\(name)\""]))
    }

    private func jobs(_ prefix: String, _ count: Int, cpuMillis: UInt64 = 800) -> [PendingJob] {
        (0..<count).map { PendingJob(id: "\(prefix)-\($0)", requirements: JobRequirements(cpuMillis: cpuMillis)) }
    }

    /// Polls `condition` every 5 ms for at most 30 s.
    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "condition not reached within 30 s")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func twoStrategiesPlaceDifferentBatchesAgainstOneView() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try SchedulingService()
        defer { service.shutdown() }
        // "first" is first fit; "pinned" puts every job on node 0, whatever it holds.
        try await service.install(try library("first", mode: 0, in: dir))
        try await service.install(try library("pinned", mode: 2, in: dir))
        try service.upsert(Node(id: "small", cpuMillis: 1000, memoryBytes: 2 * Self.gib))
        try service.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))

        async let first = service.schedule(jobs("f", 2), strategy: "first")
        async let pinned = service.schedule(jobs("p", 2), strategy: "pinned")
        let (byFirst, byPinned) = await (first, pinned)
        #expect(byFirst.strategy == "first" && byFirst.requested == "first" && !byFirst.fellBack)
        #expect(byFirst.assignments.map(\.nodeID) == ["small", "big"])
        #expect(byPinned.strategy == "pinned" && !byPinned.fellBack)
        #expect(byPinned.assignments.map(\.nodeID) == ["small"])
        #expect(byPinned.invalid.map(\.problem) == [.insufficientCPU(node: "small", needed: 800, free: 200)])
        // Both read the one view: a node added now is seen by either.
        try service.upsert(Node(id: "third", cpuMillis: 4000, memoryBytes: Self.gib))
        service.remove("small")
        #expect(await service.schedule(jobs("x", 1), strategy: "pinned").assignments.map(\.nodeID) == ["third"])
        #expect(service.strategies().map(\.name) == ["first", "pinned"])
        #expect(service.strategies().allSatisfy { $0.state == .ready })
        // An executor is refused, not installed.
        let executor = try PluginLibrary.open(Paths.builtin("exec"))
        await #expect(
            throws: PluginError.invalidDescriptor(
                file: executor.info.file, field: "kind", expected: "a scheduler plugin", found: "an executor plugin")
        ) { try await service.install(executor) }
        service.remove(strategy: "pinned")
        let removed = await service.schedule(jobs("r", 1), strategy: "pinned")
        #expect(removed.fallbackReason == "no strategy named pinned is installed")
        #expect(service.strategies().map(\.name) == ["first"])
    }

    @Test func aQuarantinedStrategyFallsBackWhileTheOtherKeepsPlacing() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try SchedulingService(failureLimit: 2)
        defer { service.shutdown() }
        // "garbage" answers node indices that do not exist.
        try await service.install(try library("garbage", mode: 1, in: dir))
        try await service.install(try library("good", mode: 0, in: dir))
        try service.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))

        let bad1 = await service.schedule(jobs("g1", 1), strategy: "garbage")
        #expect(bad1.assignments.isEmpty && bad1.invalid.count == 1 && bad1.quarantined == nil)
        let bad2 = await service.schedule(jobs("g2", 1), strategy: "garbage")
        let reason = try #require(bad2.quarantined)
        #expect(reason.hasPrefix("2 consecutive bad rounds; last: garbage placed job g2-0 invalidly"), "\(reason)")
        // The quarantining round's answers are discarded and the fallback places its batch.
        #expect(bad2.strategy == SchedulingService.fallbackName && bad2.invalid.isEmpty && bad2.failure == nil)
        #expect(bad2.assignments.map(\.jobID) == ["g2-0"])
        #expect(bad2.fallbackReason == "strategy garbage was quarantined: \(reason)")
        #expect(
            service.strategies().map { "\($0.name) \($0.state.reason ?? "ready")" } == [
                "garbage \(reason)", "good ready",
            ])

        let fallback = await service.schedule(jobs("g3", 2), strategy: "garbage")
        #expect(fallback.strategy == SchedulingService.fallbackName && fallback.requested == "garbage")
        #expect(fallback.fallbackReason == "strategy garbage is quarantined: \(reason)")
        #expect(fallback.assignments.map(\.nodeID) == ["big", "big"] && !fallback.fallbackFailed)
        let good = await service.schedule(jobs("ok", 2), strategy: "good")
        #expect(good.strategy == "good" && !good.fellBack && good.assignments.count == 2)

        // The fallback that cannot place either says so.
        let tooBig = await service.schedule(jobs("huge", 1, cpuMillis: 64000), strategy: "garbage")
        #expect(tooBig.fellBack && tooBig.fallbackFailed && tooBig.assignments.isEmpty)
        #expect(tooBig.pending["huge-0"] != nil)
        let unknown = await service.schedule(jobs("u", 1), strategy: "nope")
        #expect(unknown.fallbackReason == "no strategy named nope is installed" && unknown.assignments.count == 1)

        service.release(strategy: "garbage")
        try await waitUntil { service.strategies().first?.state == .ready }
        #expect(await service.schedule(jobs("g4", 1), strategy: "garbage").strategy == "garbage")
    }

    @Test func aHangAbandonsOneStrategyAndTheOthersAreRecreatedOnTheNewThread() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try SchedulingService(budget: .milliseconds(100), hangLimit: .seconds(1), failureLimit: 1)
        try await service.install(try library("hang", mode: 9, in: dir))
        try await service.install(try library("steady", mode: 0, in: dir))
        try await service.install(try library("garbage", mode: 1, in: dir))
        try service.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))
        // Quarantined before the hang, it stays so after.
        let garbageReason = try #require(await service.schedule(jobs("g", 1), strategy: "garbage").quarantined)

        async let hung = service.schedule(jobs("h", 2), strategy: "hang")
        try await waitUntil { service.callInProgress != nil }
        // Queued behind the hung call at once (an `async let` could start
        // late enough for its own hang check to fire first).
        let thread = try LoopThread()
        defer { try? thread.shutdown() }
        let queued = Mutex<ScheduleResult?>(nil)
        service.schedule(jobs("s", 2), strategy: "steady", completingOn: thread.loop) { result in
            queued.withLock { $0 = result }
        }
        try await waitUntil { (service.callInProgress ?? .zero) > .seconds(1) }
        #expect(service.checkForHang())

        let first = await hung
        #expect(first.strategy == SchedulingService.fallbackName && first.assignments.count == 2)
        #expect(first.fallbackReason?.hasPrefix("strategy hang is quarantined: hang: place has run for ") == true)
        try await waitUntil { queued.withLock { $0 } != nil }
        let steady = try #require(queued.withLock { $0 })
        #expect(steady.strategy == "steady" && !steady.fellBack, "re-created from its library on the new thread")
        #expect(steady.assignments.map(\.nodeID) == ["big", "big"])
        let states = Dictionary(uniqueKeysWithValues: service.strategies().map { ($0.name, $0.state) })
        #expect(states["steady"] == .ready)
        #expect(states["garbage"] == .quarantined(garbageReason))
        #expect(states["hang"]?.reason?.hasSuffix("over its hang limit of 1000 ms; its thread was abandoned") == true)
        let again = await service.schedule(jobs("h2", 1), strategy: "hang")
        #expect(again.fellBack && again.assignments.count == 1)
        #expect(await service.schedule(jobs("g2", 1), strategy: "garbage").fellBack)
        #expect(service.callInProgress == nil)
        service.shutdown()  // returns: the abandoned thread is never waited for
    }

    @Test func aCordonedNodeIsOfferedToPluginsAsNotReady() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try SchedulingService()
        defer { service.shutdown() }
        // The fixture's first fit takes only nodes the C view shows ready.
        try await service.install(try library("first", mode: 0, in: dir))
        try service.upsert(Node(id: "cordoned", cpuMillis: 16000, memoryBytes: 64 * Self.gib, cordoned: true))
        let plugin = await service.schedule(jobs("p", 1), strategy: "first")
        #expect(plugin.assignments.isEmpty && plugin.invalid.isEmpty && plugin.pending["p-0"] != nil)
        let builtin = await service.schedule(jobs("b", 1), strategy: "bin-packing")
        #expect(builtin.pending["b-0"] == "no node fits (1 nodes): 1 not ready")
        try service.upsert(Node(id: "cordoned", cpuMillis: 16000, memoryBytes: 64 * Self.gib))
        #expect(await service.schedule(jobs("u", 1), strategy: "first").assignments.map(\.nodeID) == ["cordoned"])
    }
}
