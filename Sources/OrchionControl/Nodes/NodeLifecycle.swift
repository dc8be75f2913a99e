/// What happens to a node.
public enum NodeInput: Sendable, Hashable {
    /// Its agent registered (first time or again) and was given `interval`.
    case registered(interval: Duration)
    /// A heartbeat arrived.
    case heartbeat
    /// Its agent's stream closed.
    case disconnected
    /// Its agent said it is shutting down: no new jobs until it registers again.
    case leaving
    /// Time passed: check its silence against the policy.
    case tick
}

/// What changed, for the server to act on.
public enum NodeChange: Sendable, Hashable {
    /// Health moved from one value to another.
    case health(from: NodeHealth, to: NodeHealth)
}

/// Node health as a pure state machine: ready → suspect → down on missed
/// heartbeats (and suspect at once when the stream closes); back to ready on
/// a heartbeat or a registration. Going down is where the server marks the
/// node's jobs lost.
///
/// Threading: pure functions; safe anywhere.
public enum NodeLifecycle {
    /// Applies `input` to `record` at `now` under `policy`; returns the
    /// health change, if any.
    public static func apply(
        _ input: NodeInput, to record: inout NodeRecord, now: Millis, policy: HeartbeatPolicy
    ) -> NodeChange? {
        let before = record.health
        switch input {
        case .registered(let interval):
            record.interval = interval
            record.connected = true
            record.registeredAt = now
            record.lastHeartbeat = now
            record.health = .ready
            record.leaving = false
        case .heartbeat:
            record.lastHeartbeat = max(record.lastHeartbeat, now)
            if record.connected, record.health == .suspect { record.health = .ready }
        case .disconnected:
            record.connected = false
            if record.health == .ready { record.health = .suspect }
        case .leaving:
            record.leaving = true
        case .tick:
            let silent = Duration.milliseconds(max(now - record.lastHeartbeat, 0))
            if silent >= policy.downAfter(interval: record.interval) {
                record.health = .down
            } else if silent >= policy.suspectAfter(interval: record.interval), record.health == .ready {
                record.health = .suspect
            }
        }
        // Always: the server may have replaced `node` (a registration's new
        // capabilities) with one whose state says nothing of draining.
        record.refreshState()
        guard record.health != before else { return nil }
        return .health(from: before, to: record.health)
    }
}
