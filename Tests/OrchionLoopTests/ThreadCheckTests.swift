import Glibc
import Testing

@testable import OrchionLoop

/// Each misuse runs in a child process (an exit test): the check traps, and
/// the parent asserts the exit and the message on the child's stderr.
@Suite struct ThreadCheckTests {
    @Test func aTimerStartedOffItsLoopThreadTrapsNamingTheCallAndBothThreads() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let thread = try LoopThread()
            let timer = try await thread.loop.submit { try Timer(loop: thread.loop) }
            timer.start(after: 60_000) {}
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("Timer.start(after:repeat:_:) called on thread "))
        #expect(message.contains("but its event loop runs on thread "))
        #expect(message.contains("'orchion-loop'"))
    }

    @Test func closingAHandleOffItsLoopThreadTrapsNamingTheHandle() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let thread = try LoopThread()
            let watcher = try await thread.loop.submit { try SignalWatcher(loop: thread.loop) }
            watcher.close()
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("SignalWatcher.close(_:) called on thread "))
    }

    @Test func creatingAHandleOffTheLoopThreadTraps() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let thread = try LoopThread()
            _ = try Timer(loop: thread.loop)
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("creating a Timer called on thread "))
    }

    @Test func aLoopBoundValueReadOffTheLoopTrapsNamingItsType() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let thread = try LoopThread()
            let bound = try await thread.loop.submit { LoopBound([1, 2, 3], loop: thread.loop) }
            _ = bound.wrapped
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("LoopBound<Array<Int>>.wrapped called on thread "))
    }

    @Test func fileCallsOffTheLoopThreadTrapNamingThePath() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let thread = try LoopThread()
            let file = try await thread.loop.submitAsync { (finish: @escaping (Result<File, FileError>) -> Void) in
                File.open("/dev/null", mode: .read, loop: thread.loop) { finish($0) }
            }
            try file.get().close()
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("File.close(_:) (/dev/null) called on thread "))
    }

    @Test func theSameCallsOnTheLoopThreadPass() async throws {
        let started: Bool = try await withLoop { loop in
            try await loop.run { finish in
                let timer = try Timer(loop: loop)
                timer.start(after: 1) {
                    timer.stop()
                    timer.close { finish(loop.inLoopThread) }
                }
            }
        }
        #expect(started)
    }

    @Test func aLoopThreadOwnsItsLoopAsSoonAsItIsCreated() throws {
        let thread = try LoopThread()
        // init returned: the loop has its thread, and it is not this one.
        #expect(thread.loop.hasThread)
        #expect(!thread.loop.inLoopThread)
        try thread.shutdown()
    }
}
