/// Reconnect delays: capped exponential backoff with full jitter (each
/// delay is uniform between 0 and `initial` × 2ⁿ, at most `cap`), so agents
/// that lost the server together do not come back together.
///
/// Threading: a value; one owner at a time.
public struct Backoff: Sendable, Hashable {
    public var initialMillis: UInt64 = 500
    public var capMillis: UInt64 = 30_000
    /// Failures since the last success.
    public private(set) var failures: UInt32 = 0

    public init(initialMillis: UInt64 = 500, capMillis: UInt64 = 30_000) {
        self.initialMillis = initialMillis
        self.capMillis = capMillis
    }

    /// The ceiling of the next delay: `initial` × 2^failures, at most `cap`.
    public var ceilingMillis: UInt64 {
        let shift = min(failures, 40)
        let (value, overflow) = initialMillis.multipliedReportingOverflow(by: UInt64(1) << UInt64(shift))
        return overflow ? capMillis : min(value, capMillis)
    }

    /// The delay before the next try (random in 0...ceiling), counting a failure.
    public mutating func next<Random: RandomNumberGenerator>(using random: inout Random) -> UInt64 {
        let delay = UInt64.random(in: 0...ceilingMillis, using: &random)
        failures = failures < UInt32.max ? failures + 1 : failures
        return delay
    }

    /// The delay before the next try, with the system's random numbers.
    public mutating func next() -> UInt64 {
        var random = SystemRandomNumberGenerator()
        return next(using: &random)
    }

    /// A connection succeeded: start again from `initial`.
    public mutating func reset() { failures = 0 }
}
