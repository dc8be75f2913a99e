import Glibc
import Synchronization
import Testing

@testable import OrchionLoop

@Suite struct SerialWorkerTests {
    @Test func blocksRunOneAtATimeInSubmissionOrderOnTheWorkerThread() async throws {
        let worker = try SerialWorker(name: "order-test")
        let order = Mutex<[Int]>([])
        let inside = Atomic<Int>(0)
        let overlaps = Tally()
        let offWorker = Tally()
        try await withLoop { loop in
            let all: Int = try await loop.run { finish in
                var completed = 0
                for index in 0..<500 {
                    worker.submit(
                        {
                            if inside.add(1, ordering: .acquiringAndReleasing).newValue != 1 { overlaps.add() }
                            if loop.inLoopThread { offWorker.add() }
                            order.withLock { $0.append(index) }
                            inside.subtract(1, ordering: .acquiringAndReleasing)
                            return index
                        }, on: loop,
                        then: { _ in
                            completed += 1
                            if completed == 500 { finish(completed) }
                        })
                }
            }
            #expect(all == 500)
        }
        try worker.shutdown()
        #expect(order.withLock { $0 } == Array(0..<500))
        #expect(overlaps.count == 0)
        #expect(offWorker.count == 0)
    }

    @Test func submitsQueuedDuringABatchArriveAsOneLaterBatch() async throws {
        let batches = Mutex<[Int]>([])
        let release = Atomic<Bool>(false)
        let worker = try SerialWorker(name: "batch-test") { count, runAll in
            // The first batch holds the thread until every submit is queued,
            // as a slow commit would.
            _ = waitUntilBlocking { release.load(ordering: .acquiring) }
            batches.withLock { $0.append(count) }
            runAll()
        }
        try await withLoop { loop in
            let done: Int = try await loop.run { finish in
                var completed = 0
                for index in 0..<200 {
                    worker.submit({ index }, on: loop) { _ in
                        completed += 1
                        if completed == 200 { finish(completed) }
                    }
                }
                release.store(true, ordering: .releasing)
            }
            #expect(done == 200)
        }
        try worker.shutdown()
        let sizes = batches.withLock { $0 }
        #expect(sizes.reduce(0, +) == 200)
        #expect(sizes.count <= 2, "200 submits took \(sizes.count) batches: \(sizes)")
    }

    @Test func callbacksCompleteOnTheLoopThreadAfterTheirBatchCommits() async throws {
        let committed = Atomic<Int>(0)
        let worker = try SerialWorker(name: "commit-test") { _, runAll in
            runAll()
            committed.add(1, ordering: .releasing)
        }
        let seen: [String] = try await withLoop { loop in
            try await loop.run { finish in
                var seen: [String] = []
                for _ in 0..<3 {
                    worker.submit({ committed.load(ordering: .acquiring) }, on: loop) { result in
                        let before = (try? result.get()) ?? -1
                        let after = committed.load(ordering: .acquiring)
                        seen.append("onLoop=\(loop.inLoopThread) committedAfter=\(after > before)")
                        if seen.count == 3 { finish(seen) }
                    }
                }
            }
        }
        try worker.shutdown()
        #expect(seen == Array(repeating: "onLoop=true committedAfter=true", count: 3))
    }

    @Test func asyncSubmitReturnsTheBlocksResultOrError() async throws {
        struct Refused: Error {}
        let worker = try SerialWorker(name: "async-test")
        #expect(try await worker.submit { 6 * 7 } == 42)
        await #expect(throws: Refused.self) { try await worker.submit { () throws -> Int in throw Refused() } }
        try worker.shutdown()
    }

    @Test func aFailedBatchFailsEveryBlockInIt() async throws {
        struct CommitFailed: Error {}
        let worker = try SerialWorker(name: "fail-test") { _, runAll in
            runAll()
            throw CommitFailed()
        }
        await #expect(throws: CommitFailed.self) { try await worker.submit { 1 } }
        try worker.shutdown()
    }

    @Test func aBatchFunctionThatSkipsItsBatchFailsItsBlocksInsteadOfStrandingThem() async throws {
        let worker = try SerialWorker(name: "skip-test") { _, _ in }
        let error = await #expect(throws: LoopError.self) { try await worker.submit { 1 } }
        #expect(error?.name == "ECANCELED")
        try worker.shutdown()
    }

    @Test func shutdownRunsEverythingQueuedThenRefusesNewWork() async throws {
        let release = Atomic<Bool>(false)
        let held = Atomic<Bool>(false)
        let worker = try SerialWorker(name: "flush-test") { _, runAll in
            held.store(true, ordering: .releasing)
            _ = waitUntilBlocking { release.load(ordering: .acquiring) }
            runAll()
        }
        let first = Task { try await worker.submit { -1 } }
        #expect(await waitUntil { held.load(ordering: .acquiring) })  // the held batch took it
        let queued = (0..<50).map { index in Task { try await worker.submit { index } } }
        #expect(await waitUntil { worker.backlog == 50 })
        let shutdown = Task.detached { try worker.shutdown() }
        #expect(await waitUntil { worker.isShuttingDown })
        let refused = await #expect(throws: LoopError.self) { try await worker.submit { 1 } }
        #expect(refused?.name == "ECANCELED")
        release.store(true, ordering: .releasing)
        try await shutdown.value
        #expect(try await first.value == -1)
        var values: [Int] = []
        for task in queued { values.append(try await task.value) }
        #expect(values == Array(0..<50))
        try worker.shutdown()  // a second shutdown does nothing
    }
}
