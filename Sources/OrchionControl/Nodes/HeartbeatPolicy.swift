/// How often agents heartbeat, and when a silent node turns suspect and then
/// down.
///
/// Nomad's rule: the interval grows with the number of nodes so the server
/// sees at most `maxHeartbeatsPerSecond` heartbeats on average, and never
/// falls below `minInterval`; each node gets a random stagger on top so
/// nodes that registered together do not beat together. A node is suspect
/// after `suspectAfterMissed` of its intervals without a heartbeat and down
/// after `downAfterMissed`, but never sooner than `minDownAfter` (a short
/// interval must not make a brief network blip lose jobs).
///
/// Every value comes from configuration, so none may trap: a duration past
/// `longest` (an absurd rate, miss count or NaN jitter) saturates there.
///
/// Threading: a value; safe anywhere.
public struct HeartbeatPolicy: Sendable, Hashable {
    /// The longest interval or silence the policy yields (about 136 years).
    public static let longest: Duration = .seconds(Int64(1) << 32)

    /// The shortest interval any node is given.
    public var minInterval: Duration
    /// The average heartbeat rate the server is sized for.
    public var maxHeartbeatsPerSecond: Double
    /// The stagger added to each node's interval: up to this fraction of it.
    public var jitter: Double
    /// Intervals without a heartbeat before a node is suspect.
    public var suspectAfterMissed: Int
    /// Intervals without a heartbeat before a node is down.
    public var downAfterMissed: Int
    /// The shortest silence that makes a node down.
    public var minDownAfter: Duration

    public init(
        minInterval: Duration = .seconds(2), maxHeartbeatsPerSecond: Double = 500, jitter: Double = 0.25,
        suspectAfterMissed: Int = 3, downAfterMissed: Int = 10, minDownAfter: Duration = .seconds(30)
    ) {
        self.minInterval = minInterval
        self.maxHeartbeatsPerSecond = maxHeartbeatsPerSecond
        self.jitter = jitter
        self.suspectAfterMissed = suspectAfterMissed
        self.downAfterMissed = downAfterMissed
        self.minDownAfter = minDownAfter
    }

    /// The base interval for a cluster of `nodes` nodes, before stagger.
    public func interval(nodes: Int) -> Duration {
        guard maxHeartbeatsPerSecond > 0, nodes > 0 else { return minInterval }
        let seconds = Double(nodes) / maxHeartbeatsPerSecond
        let spread = seconds < Double(Int64(1) << 32) ? Duration.seconds(seconds) : Self.longest
        return max(minInterval, spread)
    }

    /// The interval to give one node of a cluster of `nodes`: the base
    /// interval plus a stagger of `unit` (in 0...1, from a random source)
    /// times `jitter` of it.
    public func interval(nodes: Int, unit: Double) -> Duration {
        let base = Self.clamped(interval(nodes: nodes))
        let fraction = Self.unit(unit) * Self.unit(jitter)
        return base + base * fraction
    }

    /// How long a node given `interval` may stay silent before it is suspect.
    public func suspectAfter(interval: Duration) -> Duration { Self.times(interval, suspectAfterMissed) }

    /// How long a node given `interval` may stay silent before it is down.
    public func downAfter(interval: Duration) -> Duration {
        max(Self.times(interval, downAfterMissed), minDownAfter, suspectAfter(interval: interval))
    }

    /// `value` in 0...1; NaN is 0.
    private static func unit(_ value: Double) -> Double { value.isNaN ? 0 : min(max(value, 0), 1) }

    /// `duration` within ±`longest`.
    private static func clamped(_ duration: Duration) -> Duration {
        min(max(duration, .zero - longest), longest)
    }

    /// `interval` times `count` (at least 1), within ±`longest`.
    private static func times(_ interval: Duration, _ count: Int) -> Duration {
        let count = max(count, 1)
        let interval = clamped(interval)
        let limit = longest / count
        if interval > limit { return longest }
        if interval < .zero - limit { return .zero - longest }
        return interval * count
    }
}
