import OrchionControl
import Testing

@Suite struct HeartbeatPolicyTests {
    @Test func intervalGrowsWithTheNodeCountPastTheMinimum() {
        let policy = HeartbeatPolicy(minInterval: .seconds(2), maxHeartbeatsPerSecond: 500)
        #expect(policy.interval(nodes: 0) == .seconds(2))
        #expect(policy.interval(nodes: 1000) == .seconds(2))
        #expect(policy.interval(nodes: 5000) == .seconds(10))
        #expect(policy.interval(nodes: 10_000) == .seconds(20))
    }

    @Test func staggerStaysWithinTheJitterFraction() {
        let policy = HeartbeatPolicy(minInterval: .seconds(4), jitter: 0.25)
        #expect(policy.interval(nodes: 1, unit: 0) == .seconds(4))
        #expect(policy.interval(nodes: 1, unit: 1) == .seconds(5))
        #expect(policy.interval(nodes: 1, unit: 7) == .seconds(5))
        #expect(policy.interval(nodes: 1, unit: -1) == .seconds(4))
    }

    @Test func downNeverComesBeforeSuspectOrTheMinimum() {
        let policy = HeartbeatPolicy(suspectAfterMissed: 3, downAfterMissed: 10, minDownAfter: .seconds(30))
        #expect(policy.suspectAfter(interval: .seconds(2)) == .seconds(6))
        #expect(policy.downAfter(interval: .seconds(2)) == .seconds(30))
        #expect(policy.downAfter(interval: .seconds(10)) == .seconds(100))
        let odd = HeartbeatPolicy(suspectAfterMissed: 5, downAfterMissed: 1, minDownAfter: .zero)
        #expect(odd.downAfter(interval: .seconds(1)) == .seconds(5))
    }
}
