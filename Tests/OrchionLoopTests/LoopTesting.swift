import Glibc
import OrchionLoop
import Testing

/// Runs `body` on a fresh loop thread, then shuts the loop down and checks
/// that the test left no handle open.
func withLoop<T: Sendable>(_ body: (EventLoop) async throws -> T) async throws -> T {
    let thread = try LoopThread()
    let result: T
    do {
        result = try await body(thread.loop)
    } catch {
        try? thread.shutdown()
        throw error
    }
    try thread.shutdown()
    return result
}

/// Fails a loop-side wait that takes longer than `seconds`.
struct TimedOut: Error {}

extension EventLoop {
    /// Like `submitAsync`, but gives up after `seconds` (a stuck test fails
    /// instead of hanging the suite). The deadline timer is closed either way.
    func run<T: Sendable>(
        within seconds: Double = 10, _ body: @escaping @Sendable (_ finish: @escaping (T) -> Void) throws -> Void
    ) async throws -> T {
        let result: Result<T, TimedOut> = try await submitAsync { finish in
            let deadline = try Timer(loop: self)
            var done = false
            let once: (Result<T, TimedOut>) -> Void = { value in
                guard !done else { return }
                done = true
                deadline.close()
                finish(value)
            }
            deadline.start(after: UInt64(seconds * 1000)) { once(.failure(TimedOut())) }
            try body { once(.success($0)) }
        }
        return try result.get()
    }
}

/// Polls `condition` every millisecond until it holds or `seconds` pass;
/// returns whether it held. A bounded wait for a condition, not a sleep.
func waitUntil(within seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

/// Like `waitUntil`, for a plain thread (no task to suspend).
func waitUntilBlocking(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        usleep(1000)
    }
    return true
}
