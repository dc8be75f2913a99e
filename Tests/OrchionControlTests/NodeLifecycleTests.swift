import OrchionControl
import OrchionCore
import Testing

/// A node driven through `NodeLifecycle`: 2 s interval, suspect after 6 s
/// of silence, down after 30 s (the policy's floor).
private struct NodeDriver {
    static let policy = HeartbeatPolicy(
        minInterval: .seconds(2), suspectAfterMissed: 3, downAfterMissed: 10, minDownAfter: .seconds(30))
    static let start: Millis = 100_000

    var record = NodeRecord(
        node: Node(id: "n1", cpuMillis: 4_000, memoryBytes: 1 << 30), hostname: "host-1", now: start,
        interval: .seconds(2))

    init(registered: Bool = true) {
        if registered { _ = apply(.registered(interval: .seconds(2)), at: Self.start) }
    }

    mutating func apply(_ input: NodeInput, at now: Millis) -> NodeChange? {
        NodeLifecycle.apply(input, to: &record, now: now, policy: Self.policy)
    }

    /// Silence of `millis` since the start.
    mutating func tick(after millis: Millis) -> NodeChange? { apply(.tick, at: Self.start + millis) }
}

@Suite struct NodeLifecycleTests {
    @Test func registrationConnectsTheNodeAndMakesItReady() {
        var driver = NodeDriver(registered: false)
        #expect(!driver.record.connected)
        #expect(driver.apply(.registered(interval: .seconds(5)), at: 200_000) == nil)
        #expect(driver.record.connected)
        #expect(driver.record.health == .ready)
        #expect(driver.record.node.state == .ready)
        #expect(driver.record.interval == .seconds(5))
        #expect(driver.record.registeredAt == 200_000)
        #expect(driver.record.lastHeartbeat == 200_000)
        #expect(driver.record.schedulable)
    }

    @Test func aLeavingNodeTakesNoJobsShowsDrainingAndIsBackOnlyWhenItRegistersAgain() {
        var driver = NodeDriver()
        #expect(driver.apply(.leaving, at: NodeDriver.start + 100) == nil)
        #expect(driver.record.health == .ready)
        #expect(driver.record.node.state == .draining)
        #expect(!driver.record.schedulable)
        _ = driver.apply(.heartbeat, at: NodeDriver.start + 200)
        #expect(!driver.record.schedulable)
        #expect(driver.apply(.disconnected, at: NodeDriver.start + 300) == .health(from: .ready, to: .suspect))
        _ = driver.apply(.registered(interval: .seconds(2)), at: NodeDriver.start + 400)
        #expect(driver.record.node.state == .ready)
        #expect(driver.record.schedulable)
        #expect(!driver.record.cordoned && !driver.record.draining)
    }

    @Test func silenceMakesANodeSuspectThenDownAtThePolicysThresholds() {
        var driver = NodeDriver()
        #expect(driver.tick(after: 5_999) == nil)
        #expect(driver.record.health == .ready)
        #expect(driver.tick(after: 6_000) == .health(from: .ready, to: .suspect))
        #expect(driver.record.node.state == .suspect)
        #expect(!driver.record.schedulable)
        #expect(driver.tick(after: 29_999) == nil)
        #expect(driver.record.health == .suspect)
        #expect(driver.tick(after: 30_000) == .health(from: .suspect, to: .down))
        #expect(driver.record.node.state == .down)
        #expect(driver.tick(after: 90_000) == nil)
        #expect(driver.record.health == .down)
    }

    @Test func aNodeSilentPastItsTTLAtItsFirstTickGoesStraightDown() {
        var driver = NodeDriver()
        #expect(driver.tick(after: 45_000) == .health(from: .ready, to: .down))
        #expect(driver.record.node.state == .down)
    }

    @Test func theThresholdsFollowTheIntervalTheNodeWasGiven() {
        var driver = NodeDriver()
        _ = driver.apply(.registered(interval: .seconds(10)), at: NodeDriver.start)
        #expect(driver.tick(after: 29_999) == nil)
        #expect(driver.tick(after: 30_000) == .health(from: .ready, to: .suspect))
        #expect(driver.tick(after: 99_999) == nil)
        #expect(driver.tick(after: 100_000) == .health(from: .suspect, to: .down))
    }

    @Test func heartbeatsKeepANodeReady() {
        var driver = NodeDriver()
        for second in 1...100 {
            let now = NodeDriver.start + Millis(second) * 2_000
            #expect(driver.apply(.heartbeat, at: now) == nil)
            #expect(driver.apply(.tick, at: now + 1_999) == nil)
        }
        #expect(driver.record.health == .ready)
        #expect(driver.record.lastHeartbeat == NodeDriver.start + 200_000)
    }

    @Test func aLateHeartbeatDoesNotMoveTheLastHeartbeatBack() {
        var driver = NodeDriver()
        _ = driver.apply(.heartbeat, at: NodeDriver.start + 5_000)
        _ = driver.apply(.heartbeat, at: NodeDriver.start + 1_000)
        #expect(driver.record.lastHeartbeat == NodeDriver.start + 5_000)
        #expect(driver.tick(after: 10_999) == nil)
    }

    @Test func aHeartbeatBringsASuspectNodeBackWhileItIsConnected() {
        var driver = NodeDriver()
        _ = driver.tick(after: 7_000)
        #expect(driver.record.health == .suspect)
        #expect(driver.apply(.heartbeat, at: NodeDriver.start + 8_000) == .health(from: .suspect, to: .ready))
        #expect(driver.record.node.state == .ready)
        #expect(driver.tick(after: 13_999) == nil)
        #expect(driver.tick(after: 14_000) == .health(from: .ready, to: .suspect))
    }

    @Test func aDisconnectMakesTheNodeSuspectAtOnceAndOnlyARegistrationBringsItBack() {
        var driver = NodeDriver()
        #expect(driver.apply(.disconnected, at: NodeDriver.start + 100) == .health(from: .ready, to: .suspect))
        #expect(!driver.record.connected)
        #expect(driver.record.node.state == .suspect)
        // A heartbeat still in flight when the stream closed does not revive it.
        #expect(driver.apply(.heartbeat, at: NodeDriver.start + 200) == nil)
        #expect(driver.record.health == .suspect)
        #expect(driver.apply(.disconnected, at: NodeDriver.start + 300) == nil)
        // The TTL counts from the last heartbeat.
        #expect(driver.tick(after: 30_199) == nil)
        #expect(driver.tick(after: 30_200) == .health(from: .suspect, to: .down))

        #expect(
            driver.apply(.registered(interval: .seconds(2)), at: NodeDriver.start + 40_000)
                == .health(from: .down, to: .ready))
        #expect(driver.record.connected)
    }

    @Test func aDisconnectOfASuspectNodeKeepsItSuspect() {
        var driver = NodeDriver()
        _ = driver.tick(after: 6_000)
        #expect(driver.apply(.disconnected, at: NodeDriver.start + 6_500) == nil)
        #expect(driver.record.health == .suspect)
        #expect(!driver.record.connected)
    }

    @Test func aDownNodeStaysDownOnHeartbeatsUntilItRegistersAgain() {
        var driver = NodeDriver()
        _ = driver.tick(after: 30_000)
        #expect(driver.record.health == .down)
        #expect(driver.apply(.heartbeat, at: NodeDriver.start + 31_000) == nil)
        #expect(driver.record.health == .down)

        let back = driver.apply(.registered(interval: .seconds(4)), at: NodeDriver.start + 32_000)
        #expect(back == .health(from: .down, to: .ready))
        #expect(driver.record.node.state == .ready)
        #expect(driver.record.interval == .seconds(4))
        #expect(driver.record.registeredAt == NodeDriver.start + 32_000)
        #expect(driver.record.lastHeartbeat == NodeDriver.start + 32_000)
        // Its new silence counts from the registration, at its new interval.
        #expect(driver.tick(after: 32_000 + 11_999) == nil)
        #expect(driver.tick(after: 32_000 + 12_000) == .health(from: .ready, to: .suspect))
    }

    @Test func aDrainingNodeShowsDrainingWhileReadyAndKeepsItThroughHealthChanges() {
        var driver = NodeDriver()
        driver.record.draining = true
        driver.record.refreshState()
        #expect(driver.record.node.state == .draining)
        #expect(!driver.record.schedulable)

        _ = driver.tick(after: 6_000)
        #expect(driver.record.node.state == .suspect)
        _ = driver.apply(.heartbeat, at: NodeDriver.start + 6_500)
        #expect(driver.record.node.state == .draining)
        _ = driver.tick(after: 6_500 + 30_000)
        #expect(driver.record.node.state == .down)
        _ = driver.apply(.registered(interval: .seconds(2)), at: NodeDriver.start + 40_000)
        #expect(driver.record.draining)
        #expect(driver.record.node.state == .draining)

        driver.record.draining = false
        driver.record.refreshState()
        #expect(driver.record.node.state == .ready)
        #expect(driver.record.schedulable)
    }

    /// The server replaces `node` when an agent registers with new
    /// capabilities; the registration derives its state again.
    @Test func aRegistrationDerivesTheStateOfTheNodeItWasGivenAgain() {
        var driver = NodeDriver()
        driver.record.draining = true
        driver.record.refreshState()
        driver.record.node = Node(id: "n1", cpuMillis: 8_000, memoryBytes: 2 << 30)
        #expect(driver.apply(.registered(interval: .seconds(2)), at: NodeDriver.start + 1_000) == nil)
        #expect(driver.record.node.state == .draining)
        #expect(driver.record.node.cpuMillis == 8_000)
    }
}
