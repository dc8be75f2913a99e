import OrchionCore

/// A node's health as heartbeats show it.
public enum NodeHealth: String, Sendable, Hashable {
    /// Heartbeating.
    case ready
    /// Missed heartbeats, or its stream closed; takes no new jobs, may come back.
    case suspect
    /// Silent past its TTL: its jobs are lost.
    case down
}

/// A node as the control plane keeps it: what it offers (the scheduler's
/// `Node`), its health, the operator's choices and its heartbeat timing.
///
/// Threading: a value; safe anywhere.
public struct NodeRecord: Sendable, Hashable {
    /// What the scheduler sees. Its `state` is derived from `health` and
    /// `draining`/`leaving` by `refreshState()`; never set it directly.
    public var node: Node
    public var hostname: String
    public internal(set) var health: NodeHealth = .ready
    /// The operator drained it: no new jobs, running ones finish.
    public var draining = false
    /// The operator cordoned it: no new jobs.
    public var cordoned = false
    /// Its agent is shutting down (it said so): no new jobs until it
    /// registers again.
    public internal(set) var leaving = false
    /// Whether its agent holds a stream to the server now.
    public internal(set) var connected = false
    public internal(set) var registeredAt: Millis
    public internal(set) var lastHeartbeat: Millis
    /// The heartbeat interval it was given.
    public var interval: Duration

    public init(node: Node, hostname: String, now: Millis, interval: Duration) {
        self.node = node
        self.hostname = hostname
        self.registeredAt = now
        self.lastHeartbeat = now
        self.interval = interval
        refreshState()
    }

    public var id: String { node.id }

    /// Whether a node with no job left may be forgotten at `now`: down, and
    /// silent for longer than `retention`.
    public func isForgettable(at now: Millis, retention: Duration) -> Bool {
        let silence = now.subtractingReportingOverflow(lastHeartbeat)
        return health == .down && !silence.overflow
            && Duration.milliseconds(silence.partialValue) > retention
    }

    /// Whether it takes new jobs.
    public var schedulable: Bool { health == .ready && !draining && !cordoned && !leaving }

    /// Sets `node.state` and `node.cordoned` from health and the operator's choices.
    public mutating func refreshState() {
        switch health {
        case .ready: node.state = draining || leaving ? .draining : .ready
        case .suspect: node.state = .suspect
        case .down: node.state = .down
        }
        node.cordoned = cordoned
    }
}
