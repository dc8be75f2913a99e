import OrchionControl
import OrchionCore
import Testing

@Suite struct NodeRecordTests {
    private func record() -> NodeRecord {
        NodeRecord(
            node: Node(id: "n1", state: .down, cpuMillis: 1_000, memoryBytes: 1_024), hostname: "host-1", now: 5,
            interval: .seconds(3))
    }

    @Test func aNewRecordIsReadyWhateverStateItsNodeCameWith() {
        let record = record()
        #expect(record.health == .ready)
        #expect(record.node.state == .ready)
        #expect(!record.connected)
        #expect(record.id == "n1")
        #expect(record.hostname == "host-1")
        #expect(record.registeredAt == 5)
        #expect(record.lastHeartbeat == 5)
        #expect(record.interval == .seconds(3))
    }

    @Test func schedulableOnlyWhenReadyAndNeitherDrainingNorCordoned() {
        var record = record()
        #expect(record.schedulable)
        record.cordoned = true
        #expect(!record.schedulable)
        record.cordoned = false
        record.draining = true
        #expect(!record.schedulable)
        record.draining = false
        let policy = HeartbeatPolicy()
        _ = NodeLifecycle.apply(.disconnected, to: &record, now: 6, policy: policy)
        #expect(record.health == .suspect)
        #expect(!record.schedulable)
    }

    @Test func refreshStateShowsDrainingOnlyOverAReadyNode() {
        var record = record()
        let policy = HeartbeatPolicy(minDownAfter: .zero)
        record.draining = true
        record.refreshState()
        #expect(record.node.state == .draining)
        _ = NodeLifecycle.apply(.disconnected, to: &record, now: 6, policy: policy)
        #expect(record.node.state == .suspect)
        _ = NodeLifecycle.apply(.tick, to: &record, now: 1_000_000, policy: policy)
        #expect(record.health == .down)
        #expect(record.node.state == .down)
        record.draining = false
        record.refreshState()
        #expect(record.node.state == .down)
    }

    @Test func onlyANodeDownLongerThanTheRetentionIsForgettable() {
        var record = record()
        let policy = HeartbeatPolicy(minInterval: .seconds(3), downAfterMissed: 10, minDownAfter: .seconds(30))
        #expect(!record.isForgettable(at: 1_000_000, retention: .seconds(60)), "ready, however long")
        _ = NodeLifecycle.apply(.tick, to: &record, now: 5 + 30_000, policy: policy)
        #expect(record.health == .down)
        #expect(!record.isForgettable(at: 5 + 60_000, retention: .seconds(60)))
        #expect(record.isForgettable(at: 5 + 60_001, retention: .seconds(60)))
        #expect(!record.isForgettable(at: .min, retention: .seconds(60)), "a clock far behind")
    }
}
