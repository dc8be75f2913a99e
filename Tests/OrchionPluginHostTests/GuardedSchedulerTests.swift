import Foundation
import OrchionCore
import OrchionPluginHost
import TestSupport
import Testing

/// Invalid answers never leave the host; repeat offenders are quarantined.
@Suite struct GuardedSchedulerTests {
    private static let gib: UInt64 = 1 << 30

    private func cluster() -> ClusterView {
        let view = ClusterView()
        view.upsert(Node(id: "small", cpuMillis: 1000, memoryBytes: 2 * Self.gib))
        view.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))
        return view
    }

    private func batch() -> JobBatch {
        JobBatch(
            (0..<4).map {
                PendingJob(id: "job-\($0)", requirements: JobRequirements(cpuMillis: 800, memoryBytes: Self.gib))
            })
    }

    private func fixture(mode: Int, _ dir: URL) throws -> SchedulerPlugin {
        try SchedulerPlugin(
            try PluginLibrary.open(try CPlugins.fixture("mode\(mode).so", in: dir, defines: ["FIXTURE_MODE=\(mode)"])))
    }

    @Test func outOfRangeNodesAreRefusedAndReported() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = GuardedScheduler(try fixture(mode: 1, dir)).schedule(batch(), in: cluster())
        #expect(result.assignments.isEmpty)
        #expect(result.invalid.count == 4)
        #expect(result.invalid[0].problem == .noSuchNode(index: 7, nodeCount: 2))
        #expect(
            result.invalid[0].description
                == "fixture placed job job-0 invalidly: node index 7 does not exist: expected 0..<2")
        #expect(result.pending.count == 4)
    }

    @Test func overcommitIsCaughtPerBatch() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Mode 2 puts every job on node 0 ("small", one core): only the first fits.
        let result = GuardedScheduler(try fixture(mode: 2, dir)).schedule(batch(), in: cluster())
        #expect(result.assignments.map(\.jobID) == ["job-0"])
        #expect(
            result.invalid.map(\.problem)
                == Array(
                    repeating: .insufficientCPU(node: "small", needed: 800, free: 200), count: 3))
    }

    @Test func unterminatedReasonsAreCutSafely() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = GuardedScheduler(try fixture(mode: 4, dir)).schedule(batch(), in: cluster())
        let reason = try #require(result.pending["job-0"])
        #expect(reason.count < 160 && reason.allSatisfy { $0 == "x" })
    }

    @Test func repeatedFailureQuarantinesAndTheDefaultTakesOver() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let guarded = GuardedScheduler(try fixture(mode: 3, dir), failureLimit: 3)
        let view = cluster()
        for round in 1...3 {
            let result = guarded.schedule(batch(), in: view)
            #expect(
                result.failure
                    == ScheduleFailure(
                        strategy: "fixture",
                        message: PluginError.callFailed(
                            name: "fixture", function: "place", status: 4, message: "strategy state corrupted"
                        ).description))
            #expect(result.assignments.isEmpty)
            #expect((guarded.quarantineReason != nil) == (round == 3))
        }
        #expect(guarded.quarantineReason?.contains("3 consecutive bad rounds") == true)
        let fallback = guarded.schedule(batch(), in: view)
        #expect(fallback.strategy == "built-in bin-packing")
        #expect(fallback.failure == nil && fallback.invalid.isEmpty)
        // Best fit: the small node takes one job, the big one the rest.
        #expect(Dictionary(grouping: fallback.assignments, by: \.nodeID).mapValues(\.count) == ["small": 1, "big": 3])
        guarded.release()
        #expect(guarded.schedule(batch(), in: view).strategy == "fixture")
    }

    @Test func aGoodRoundResetsTheFailureCount() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let guarded = GuardedScheduler(try fixture(mode: 0, dir), failureLimit: 2)
        let result = guarded.schedule(batch(), in: cluster())
        #expect(result.invalid.isEmpty && result.assignments.count == 4)
        #expect(guarded.quarantineReason == nil)
    }

    @Test func registryShowsQuarantine() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try CPlugins.fixture("mode3.so", in: dir, defines: ["FIXTURE_MODE=3"])
        let registry = PluginRegistry()
        registry.scan([PluginDirectory(path: dir.path, source: .flag)])
        registry.quarantine("fixture", reason: "3 consecutive bad rounds")
        #expect(registry.entries.first?.state == .quarantined("3 consecutive bad rounds"))
    }
}
