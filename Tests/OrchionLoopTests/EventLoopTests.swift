import Glibc
import OrchionLoop
import Synchronization
import Testing

/// An actor whose executor is the loop: its methods run on the loop thread.
actor Counter {
    let loop: EventLoop
    private(set) var value = 0
    private(set) var offLoopCalls = 0

    init(loop: EventLoop) { self.loop = loop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    func increment() {
        if !loop.inLoopThread { offLoopCalls += 1 }
        value += 1
    }
}

@Suite struct EventLoopTests {
    @Test func actorsOnTheLoopRunOnItsThreadAndNoWakeUpIsLost() async throws {
        try await withLoop { loop in
            let counter = Counter(loop: loop)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask { for _ in 0..<100 { await counter.increment() } }
                }
            }
            #expect(await counter.value == 5000)
            #expect(await counter.offLoopCalls == 0)
        }
    }

    @Test func executeFromManyThreadsDrainsEverything() async throws {
        try await withLoop { loop in
            let seen = Tally()
            let offLoop = Tally()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        for _ in 0..<100 {
                            loop.execute {
                                seen.add()
                                if !loop.inLoopThread { offLoop.add() }
                            }
                        }
                    }
                }
            }
            // The queue is FIFO: once this runs, every earlier execute has.
            let total = try await loop.submit { seen.count }
            #expect(total == 2000)
            #expect(offLoop.count == 0)
        }
    }

    @Test func workQueuedFromTheLoopThreadRunsInOrderOnTheLoop() async throws {
        final class Steps {
            var order: [Int] = []
        }
        let order: [Int] = try await withLoop { loop in
            try await loop.run { finish in
                // Nested executes come from the loop thread: the idle-handle
                // path. LoopBound traps if any step ran elsewhere.
                let steps = LoopBound(Steps(), loop: loop)
                let done = LoopBound(finish, loop: loop)
                loop.execute {
                    steps.wrapped.order.append(1)
                    loop.execute {
                        steps.wrapped.order.append(2)
                        loop.execute { done.wrapped(steps.wrapped.order + [3]) }
                    }
                }
            }
        }
        #expect(order == [1, 2, 3])
    }

    @Test func timersFireInDueOrderAndARepeatingTimerRepeats() async throws {
        // Waits for all three events, not for a time: a loop delayed under
        // load may fire the slow timer before the ticker's third tick, but
        // never the slow timer before the fast one (due timers run in order).
        let order: [String] = try await withLoop { loop in
            try await loop.run { finish in
                var order: [String] = []
                func record(_ event: String) {
                    order.append(event)
                    if order.count == 3 { finish(order) }
                }
                let slow = try Timer(loop: loop)
                let fast = try Timer(loop: loop)
                let ticker = try Timer(loop: loop)
                var ticks = 0
                ticker.start(after: 1, repeat: 5) {
                    ticks += 1
                    if ticks == 3 {
                        ticker.close()
                        record("tick x3")
                    }
                }
                fast.start(after: 5) {
                    fast.close()
                    record("fast")
                }
                slow.start(after: 60) {
                    slow.close()
                    record("slow")
                }
            }
        }
        #expect(Set(order) == ["fast", "tick x3", "slow"])
        #expect((order.firstIndex(of: "fast") ?? 3) < (order.firstIndex(of: "slow") ?? 3))
    }

    @Test func offloadRunsOnAPoolThreadAndComesBack() async throws {
        try await withLoop { loop in
            let onPool = await loop.offload { !loop.inLoopThread }
            #expect(onPool)
            let back: Bool = try await loop.run { finish in
                loop.queueWork({ 21 * 2 }, then: { value in finish(value == 42 && loop.inLoopThread) })
            }
            #expect(back)
        }
    }

    @Test func signalsArriveOnTheLoop() async throws {
        let number: Int32 = try await withLoop { loop in
            try await loop.run { finish in
                let watcher = try SignalWatcher(loop: loop)
                try watcher.start(SIGUSR1) { signal in
                    watcher.close()
                    finish(signal)
                }
                kill(getpid(), SIGUSR1)
            }
        }
        #expect(number == SIGUSR1)
    }

    @Test func leakedHandlesAreReportedAtShutdownByKind() throws {
        let thread = try LoopThread()
        let opened = Tally()
        thread.loop.execute {
            if (try? Timer(loop: thread.loop)) != nil { opened.add() }
        }
        #expect(waitUntilBlocking { opened.count == 1 })
        let error = #expect(throws: LoopError.self) { try thread.shutdown() }
        #expect(error?.name == "EBUSY")
        #expect(error?.operation.hasSuffix("open handles: timer") == true)
    }
}

/// A thread-safe counter.
final class Tally: Sendable {
    private let value = Mutex(0)

    func add() { value.withLock { $0 += 1 } }

    var count: Int { value.withLock { $0 } }
}
