import Foundation
import OrchionCore
import OrchionLoop
import OrchionPluginHost
import Synchronization
import TestSupport
import Testing

/// Invalid answers never leave the host; repeat offenders are quarantined.
@Suite struct GuardedSchedulerTests {
    private static let gib: UInt64 = 1 << 30

    private func cluster() throws -> ClusterView {
        let view = ClusterView()
        try view.upsert(Node(id: "small", cpuMillis: 1000, memoryBytes: 2 * Self.gib))
        try view.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))
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
        let result = GuardedScheduler(try fixture(mode: 1, dir)).schedule(batch(), in: try cluster())
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
        let result = GuardedScheduler(try fixture(mode: 2, dir)).schedule(batch(), in: try cluster())
        #expect(result.assignments.map(\.jobID) == ["job-0"])
        #expect(
            result.invalid.map(\.problem)
                == Array(
                    repeating: .insufficientCPU(node: "small", needed: 800, free: 200), count: 3))
    }

    @Test func unterminatedReasonsAreCutSafely() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = GuardedScheduler(try fixture(mode: 4, dir)).schedule(batch(), in: try cluster())
        let reason = try #require(result.pending["job-0"])
        #expect(reason.count < 160 && reason.allSatisfy { $0 == "x" })
    }

    @Test func writingPastThePlacementsIsCaughtAndTheAnswersDiscarded() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Mode 10 places like mode 0, then writes one placement past the end.
        let result = GuardedScheduler(try fixture(mode: 10, dir)).schedule(batch(), in: try cluster())
        #expect(
            result.failure?.message
                == PluginError.callFailed(
                    name: "fixture", function: "place", status: 0,
                    message: "wrote past the end of its placement array (4 entries of 184 bytes); "
                        + "its answers are discarded"
                ).description)
        #expect(result.assignments.isEmpty && result.pending.count == 4)
    }

    @Test func writingPastTheErrorBufferIsCaughtAndNamed() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = GuardedScheduler(try fixture(mode: 11, dir)).schedule(batch(), in: try cluster())
        #expect(
            result.failure?.message
                == PluginError.callFailed(
                    name: "fixture", function: "place", status: 0,
                    message: "wrote past the end of its 512-byte message buffer; its answer is discarded"
                ).description)
    }

    @Test func repeatedFailureQuarantinesAndTheDefaultTakesOver() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let guarded = GuardedScheduler(try fixture(mode: 3, dir), failureLimit: 3)
        let view = try cluster()
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
        // Mode 6 fails a batch whose first job is named "fail…" and places any other.
        let guarded = GuardedScheduler(try fixture(mode: 6, dir), failureLimit: 2)
        let view = try cluster()
        let failing = JobBatch([PendingJob(id: "fail-1", requirements: JobRequirements(cpuMillis: 100))])
        let first = guarded.schedule(failing, in: view)
        #expect(first.failure != nil && guarded.quarantineReason == nil, "one bad round of two allowed")
        let good = guarded.schedule(batch(), in: view)
        #expect(good.failure == nil && good.invalid.isEmpty && good.assignments.count == 4)
        // Without the reset this second failure would be the second in a row.
        let second = guarded.schedule(failing, in: view)
        #expect(second.failure != nil && second.quarantined == nil && guarded.quarantineReason == nil)
        let third = guarded.schedule(failing, in: view)
        #expect(third.quarantined?.hasPrefix("2 consecutive bad rounds; last: plugin 'fixture': place failed") == true)
        #expect(guarded.quarantineReason == third.quarantined)
    }

    private func gpuCluster() throws -> ClusterView {
        let view = ClusterView()
        let gpus = [
            GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * Self.gib, index: 4, allocated: true),
            GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * Self.gib, index: 7),
            GPU(vendor: "amd", model: "MI210", memoryBytes: 64 * Self.gib, index: 2),
            GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * Self.gib, index: 0),
        ]
        try view.upsert(Node(id: "gpu", cpuMillis: 16000, memoryBytes: 64 * Self.gib, gpus: gpus))
        return view
    }

    private func gpuJobs(_ count: Int, each: UInt32 = 1, vendor: String? = "nvidia") -> JobBatch {
        JobBatch(
            (0..<count).map {
                PendingJob(
                    id: "g\($0)",
                    requirements: JobRequirements(cpuMillis: 100, gpu: GPURequest(count: each, vendor: vendor)))
            })
    }

    /// Places `jobs` with mode 8 naming `gpus` (config "gpus") on node 0.
    private func named(_ gpus: String, _ jobs: JobBatch, _ dir: URL) throws -> ScheduleResult {
        let library = try PluginLibrary.open(
            try CPlugins.fixture("mode8.so", in: dir, defines: ["FIXTURE_MODE=8"]))
        return GuardedScheduler(try SchedulerPlugin(library, config: ["gpus": gpus])).schedule(
            jobs, in: try gpuCluster())
    }

    @Test func namedGPUsAreBoundWhenValid() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try named("0,7", gpuJobs(1, each: 2), dir)
        #expect(result.invalid.isEmpty)
        #expect(result.assignments == [Assignment(jobID: "g0", nodeID: "gpu", gpuIndices: [0, 7])])
    }

    @Test func namedGPUsAreCheckedOneByOne() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func problems(_ gpus: String, _ jobs: JobBatch) throws -> [PlacementRejection] {
            try named(gpus, jobs, dir).invalid.map(\.problem)
        }
        #expect(try problems("9", gpuJobs(1)) == [.noSuchGPU(node: "gpu", index: 9, available: [4, 7, 2, 0])])
        #expect(try problems("7,7", gpuJobs(1, each: 2)) == [.gpuNamedTwice(node: "gpu", index: 7)])
        #expect(
            try problems("4", gpuJobs(1)) == [.gpuUnavailable(node: "gpu", index: 4, found: "allocated")],
            "allocated to a running job")
        // Both jobs name GPU 7: the second finds it taken by the first.
        #expect(
            try problems("7", gpuJobs(2)) == [
                .gpuUnavailable(node: "gpu", index: 7, found: "taken earlier in this batch")
            ])
        #expect(
            try problems("2", gpuJobs(1))
                == [
                    .gpuUnavailable(
                        node: "gpu", index: 2, found: "amd MI210 with \(64 * Self.gib) bytes, not matching the request")
                ])
        #expect(try problems("0,7", gpuJobs(1)) == [.gpuCountMismatch(node: "gpu", needed: 1, named: 2)])
        // A job that asked for no GPUs names none.
        let cpuOnly = JobBatch([PendingJob(id: "c", requirements: JobRequirements(cpuMillis: 100))])
        #expect(try problems("0", cpuOnly) == [.gpuCountMismatch(node: "gpu", needed: 0, named: 1)])
        // Naming none lets the host choose the first free matching GPUs.
        let chosen = try named("", gpuJobs(2), dir)
        #expect(chosen.invalid.isEmpty && chosen.assignments.map(\.gpuIndices) == [[7], [0]])
    }

    @Test func aSlowPlaceIsQuarantinedWithItsDurationAndTheDefaultPlacesTheBatch() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plugin = try SchedulerPlugin(
            try PluginLibrary.open(
                try CPlugins.fixture("slow.so", in: dir, defines: ["FIXTURE_MODE=5", "FIXTURE_SLEEP_MS=300"])))
        let guarded = GuardedScheduler(plugin, budget: .milliseconds(50))
        let result = guarded.schedule(batch(), in: try cluster())
        let reason = try #require(result.quarantined)
        #expect(reason.hasPrefix("place took ") && reason.hasSuffix(" ms, over its budget of 50 ms"), "\(reason)")
        #expect(guarded.quarantineReason == reason)
        #expect(guarded.slowestCall >= .milliseconds(300))
        #expect(result.strategy == "built-in bin-packing" && result.assignments.count == 4)
        #expect(guarded.schedule(batch(), in: try cluster()).strategy == "built-in bin-packing")
    }

    @Test func aSlowPlaceOnTheSchedulerThreadDoesNotStallTheLoop() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(
            try CPlugins.fixture("slow.so", in: dir, defines: ["FIXTURE_MODE=5", "FIXTURE_SLEEP_MS=1500"]))
        let thread = try LoopThread()
        let loop = thread.loop
        let service = try SchedulingService(budget: .milliseconds(300))
        let onLoop = Mutex<[Bool]>([])
        try await service.install(
            library,
            sink: { _, event in
                if case .log(_, let line) = event, line.hasPrefix("place") {
                    onLoop.withLock { $0.append(loop.inLoopThread) }
                }
            })
        for node in [
            Node(id: "small", cpuMillis: 1000, memoryBytes: 2 * Self.gib),
            Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib),
        ] {
            try service.upsert(node)
        }
        // A 20 ms heartbeat on the loop, recording when it fires.
        let beats = Mutex<[UInt64]>([])
        let heartbeat: LoopBound<OrchionLoop.Timer> = try await loop.submit {
            let timer = try OrchionLoop.Timer(loop: loop)
            timer.start(after: 20, repeat: 20) { beats.withLock { $0.append(Self.now()) } }
            return LoopBound(timer, loop: loop)
        }
        let started = Self.now()
        let jobs = (0..<4).map {
            PendingJob(id: "job-\($0)", requirements: JobRequirements(cpuMillis: 800, memoryBytes: Self.gib))
        }
        let completedOnLoop = Mutex(false)
        let result: ScheduleResult = await withCheckedContinuation { continuation in
            service.schedule(jobs, strategy: "fixture", completingOn: loop) { result in
                completedOnLoop.withLock { $0 = loop.inLoopThread }
                continuation.resume(returning: result)
            }
        }
        let finished = Self.now()
        try await loop.submit { heartbeat.wrapped.close() }
        service.shutdown()
        try thread.shutdown()

        #expect(finished - started >= 1_500_000_000, "place really blocked its thread for 1.5 s")
        let during = beats.withLock { $0 }.filter { $0 >= started && $0 <= finished }
        let gaps = zip([started] + during, during + [finished]).map { $1 - $0 }
        #expect(during.count >= 10, "the heartbeat kept firing: \(during.count) beats in 1.5 s")
        #expect((gaps.max() ?? .max) < 500_000_000, "longest gap between beats: \((gaps.max() ?? 0) / 1_000_000) ms")
        #expect(onLoop.withLock { $0 } == [false], "place ran once, off the loop thread")
        #expect(completedOnLoop.withLock { $0 }, "the completion ran on the loop thread")
        #expect(result.quarantined?.hasSuffix("over its budget of 300 ms") == true)
        #expect(result.strategy == "built-in bin-packing" && result.assignments.count == 4)
        #expect(
            result.requested == "fixture"
                && result.fallbackReason?.hasPrefix("strategy fixture was quarantined: place took ") == true)
    }

    @Test func aPlaceThatNeverReturnsIsAbandonedAndTheDefaultPlacesWhatWaited() async throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try CPlugins.fixture("hang.so", in: dir, defines: ["FIXTURE_MODE=9"]))
        let service = try SchedulingService(budget: .milliseconds(100), hangLimit: .seconds(1))
        try await service.install(library)
        try service.upsert(Node(id: "big", cpuMillis: 16000, memoryBytes: 64 * Self.gib))
        let jobs = (0..<2).map { PendingJob(id: "job-\($0)", requirements: JobRequirements(cpuMillis: 800)) }
        async let hung = service.schedule(jobs, strategy: "fixture")
        let deadline = ContinuousClock.now + .seconds(30)
        func waitUntil(_ condition: () -> Bool) async throws {
            while !condition() {
                try #require(ContinuousClock.now < deadline, "condition not reached within 30 s")
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await waitUntil { service.callInProgress != nil }
        #expect(!service.checkForHang(), "not yet past the hang limit")
        // Queued behind the call that will never return, at once (an `async
        // let` could start late enough for its own hang check to fire first).
        let thread = try LoopThread()
        let queued = Mutex<ScheduleResult?>(nil)
        service.schedule(
            [PendingJob(id: "queued", requirements: JobRequirements(cpuMillis: 100))], strategy: "fixture",
            completingOn: thread.loop
        ) { result in queued.withLock { $0 = result } }
        try await waitUntil { (service.callInProgress ?? .zero) > .seconds(1) }
        #expect(service.checkForHang())

        let first = await hung
        #expect(first.strategy == "built-in bin-packing" && first.assignments.count == 2)
        #expect(first.quarantined?.contains("without returning") == true)
        try await waitUntil { queued.withLock { $0 } != nil }
        #expect(
            queued.withLock { $0 }?.assignments.map(\.nodeID) == ["big"], "the work queued behind the hang moved on")
        let reason = try #require(service.strategies().first?.state.reason)
        #expect(reason.hasPrefix("fixture: place has run for "), "\(reason)")
        #expect(reason.hasSuffix("over its hang limit of 1000 ms; its thread was abandoned"), "\(reason)")
        // Scheduling goes on with the nodes sent before the hang.
        let later = await service.schedule(
            [PendingJob(id: "later", requirements: JobRequirements(cpuMillis: 100))], strategy: "fixture")
        #expect(later.assignments.map(\.nodeID) == ["big"] && later.strategy == "built-in bin-packing")
        #expect(service.callInProgress == nil)
        service.shutdown()  // returns: the abandoned thread is never waited for
        try thread.shutdown()
    }

    @Test func theServiceAppliesUpdatesInOrderWithBatches() async throws {
        let service = try SchedulingService()
        defer { service.shutdown() }
        let job = [PendingJob(id: "j", requirements: JobRequirements(cpuMillis: 500))]
        #expect(await service.schedule(job, strategy: "bin-packing").assignments.isEmpty)
        try service.upsert(Node(id: "n", cpuMillis: 1000, memoryBytes: Self.gib))
        #expect(await service.schedule(job, strategy: "bin-packing").assignments.map(\.nodeID) == ["n"])
        service.remove("n")
        #expect(await service.schedule(job, strategy: "bin-packing").pending["j"] == "no nodes in the cluster")
        #expect(service.callInProgress == nil)
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
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
