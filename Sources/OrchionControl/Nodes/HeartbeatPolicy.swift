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
/// Threading: a value; safe anywhere.
public struct HeartbeatPolicy: Sendable, Hashable {
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
        let spread = Duration.seconds(Double(nodes) / maxHeartbeatsPerSecond)
        return max(minInterval, spread)
    }

    /// The interval to give one node of a cluster of `nodes`: the base
    /// interval plus a stagger of `unit` (in 0...1, from a random source)
    /// times `jitter` of it.
    public func interval(nodes: Int, unit: Double) -> Duration {
        let base = interval(nodes: nodes)
        let fraction = min(max(unit, 0), 1) * min(max(jitter, 0), 1)
        return base + base * fraction
    }

    /// How long a node given `interval` may stay silent before it is suspect.
    public func suspectAfter(interval: Duration) -> Duration { interval * max(suspectAfterMissed, 1) }

    /// How long a node given `interval` may stay silent before it is down.
    public func downAfter(interval: Duration) -> Duration {
        max(interval * max(downAfterMissed, 1), minDownAfter, suspectAfter(interval: interval))
    }
}
