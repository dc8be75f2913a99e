import Glibc
import Synchronization
import Testing

@testable import OrchionLoop

/// What happens to work still queued or in flight when a loop shuts down.
@Suite struct ShutdownTests {
    @Test func closuresQueuedOnALoopThatNeverRanRunAtCloseOnTheClosingThread() throws {
        let loop = try EventLoop()
        let ran = Tally()
        let onClosingThread = Tally()
        for _ in 0..<100 {
            loop.execute {
                ran.add()
                if loop.inLoopThread { onClosingThread.add() }
                // Work queued by queued work runs too.
                loop.execute { ran.add() }
            }
        }
        try loop.close()
        #expect(ran.count == 200)
        #expect(onClosingThread.count == 100)
    }

    @Test func workExecutedAfterCloseIsRefusedAndSubmitThrowsECANCELED() async throws {
        let loop = try EventLoop()
        try loop.close()
        let ran = Tally()
        #expect(loop.execute { ran.add() } == false)
        let submitError = await #expect(throws: LoopError.self) { try await loop.submit { 1 } }
        #expect(submitError?.name == "ECANCELED")
        #expect(submitError?.operation.contains("closed") == true)
        let asyncError = await #expect(throws: LoopError.self) {
            let _: Int = try await loop.submitAsync { finish in finish(1) }
        }
        #expect(asyncError?.name == "ECANCELED")
        #expect(ran.count == 0)
        #expect(throws: LoopError.self) { try loop.checkOpen("create a Timer") }
    }

    @Test func offloadAfterCloseRunsItsWorkOnTheCaller() async throws {
        let loop = try EventLoop()
        try loop.close()
        let value = await loop.offload { 6 * 7 }
        #expect(value == 42)
    }

    @Test func aTaskOnTheLoopResumedAfterShutdownStillCompletes() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let outcome = Mutex<String?>(nil)
        let task = Task(executorPreference: loop) {
            await withCheckedContinuation { continuation in parked.withLock { $0 = continuation } }
            // Resumed on the fallback thread: it stands in for the loop thread,
            // so loop-bound state stays usable, and the closed loop says so.
            let bound = LoopBound("state", loop: loop)
            outcome.withLock { $0 = "\(bound.wrapped) onLoop=\(loop.inLoopThread) closed=\(loop.isClosed)" }
        }
        #expect(await waitUntil { parked.withLock { $0 != nil } })
        try thread.shutdown()
        parked.withLock { $0?.resume() }
        #expect(await waitUntil { outcome.withLock { $0 != nil } }, "the task was stranded")
        await task.value
        #expect(outcome.withLock { $0 } == "state onLoop=true closed=true")
    }

    @Test func tasksResumedOneAfterAnotherAfterShutdownEachRunAsTheLoop() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let parked = Mutex<[CheckedContinuation<Void, Never>]>([])
        let seen = Mutex<[Bool]>([])
        var tasks: [Task<Void, Never>] = []
        for _ in 0..<3 {
            tasks.append(
                Task(executorPreference: loop) { @Sendable in
                    await withCheckedContinuation { continuation in parked.withLock { $0.append(continuation) } }
                    seen.withLock { $0.append(loop.inLoopThread) }
                })
        }
        #expect(await waitUntil { parked.withLock { $0.count } == 3 })
        try thread.shutdown()
        for (index, continuation) in parked.withLock({ $0 }).enumerated() {
            // Each resume finds the previous fallback thread gone (or going).
            continuation.resume()
            #expect(await waitUntil { seen.withLock { $0.count } == index + 1 }, "task \(index) was stranded")
        }
        for task in tasks { await task.value }
        #expect(seen.withLock { $0 } == [true, true, true])
    }

    @Test func shuttingALoopThreadDownTwiceDoesNothingTheSecondTime() throws {
        let thread = try LoopThread()
        try thread.shutdown()
        try thread.shutdown()
        #expect(thread.loop.isClosed)
    }

    @Test func anActorOnTheLoopKeepsServingCallsAfterShutdownOneAtATime() async throws {
        let thread = try LoopThread()
        let counter = Counter(loop: thread.loop)
        await counter.increment()
        try thread.shutdown()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { for _ in 0..<50 { await counter.increment() } } }
        }
        #expect(await counter.value == 1001)
        #expect(await counter.offLoopCalls == 0)
    }

    @Test func poolWorkInFlightAtShutdownCompletesOnTheLoopBeforeCloseReturns() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let completed = Mutex<(value: Int, onLoop: Bool)?>(nil)
        let started = Tally()
        loop.execute {
            loop.queueWork(
                {
                    started.add()
                    // Finish only once run() has returned: the completion can
                    // then only be delivered by close().
                    _ = waitUntilBlocking { !loop.isRunning }
                    return 42
                },
                then: { value in completed.withLock { $0 = (value, loop.inLoopThread) } })
        }
        #expect(await waitUntil { started.count == 1 })
        try thread.shutdown()
        let result = completed.withLock { $0 }
        #expect(result?.value == 42)
        #expect(result?.onLoop == true)
    }

    @Test func offloadInFlightAtShutdownReturnsItsResult() async throws {
        let thread = try LoopThread()
        let loop = thread.loop
        let started = Tally()
        async let value = loop.offload {
            started.add()
            _ = waitUntilBlocking { !loop.isRunning }
            return 7
        }
        #expect(await waitUntil { started.count == 1 })
        try thread.shutdown()
        #expect(await value == 7)
    }

    @Test func closeWhileTheLoopRunsThrowsEBUSYAndLeavesItRunning() async throws {
        let thread = try LoopThread()
        let error = #expect(throws: LoopError.self) { try thread.loop.close() }
        #expect(error?.name == "EBUSY")
        #expect(try await thread.loop.submit { 5 } == 5)
        try thread.shutdown()
    }

    @Test func shutdownOnItsOwnLoopThreadIsRefused() async throws {
        let thread = try LoopThread()
        let refused = try await thread.loop.submit { () -> Bool in
            do {
                try thread.shutdown()
                return false
            } catch {
                return true
            }
        }
        #expect(refused)
        try thread.shutdown()
    }
}
