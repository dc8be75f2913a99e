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

    /// The policy comes from configuration: no value of it may trap, an
    /// absurd one saturates at `longest`.
    @Test func absurdSettingsSaturateInsteadOfTrapping() {
        let slow = HeartbeatPolicy(maxHeartbeatsPerSecond: .leastNonzeroMagnitude)
        #expect(slow.interval(nodes: 10) == HeartbeatPolicy.longest)
        #expect(slow.interval(nodes: 10, unit: 1) == HeartbeatPolicy.longest * 1.25)
        #expect(HeartbeatPolicy(maxHeartbeatsPerSecond: 1e-20).interval(nodes: .max) == HeartbeatPolicy.longest)
        #expect(HeartbeatPolicy(maxHeartbeatsPerSecond: .nan).interval(nodes: 10) == .seconds(2))
        #expect(HeartbeatPolicy(maxHeartbeatsPerSecond: .infinity).interval(nodes: .max) == .seconds(2))

        let nanJitter = HeartbeatPolicy(minInterval: .seconds(4), jitter: .nan)
        #expect(nanJitter.interval(nodes: 1, unit: 1) == .seconds(4))
        #expect(nanJitter.interval(nodes: 1, unit: .nan) == .seconds(4))

        let many = HeartbeatPolicy(suspectAfterMissed: .max, downAfterMissed: .max)
        #expect(many.suspectAfter(interval: .seconds(20)) == HeartbeatPolicy.longest)
        #expect(many.downAfter(interval: .seconds(20)) == HeartbeatPolicy.longest)
        #expect(many.downAfter(interval: .seconds(Int64.max)) == HeartbeatPolicy.longest)
        let none = HeartbeatPolicy(suspectAfterMissed: .min, downAfterMissed: .min, minDownAfter: .zero)
        #expect(none.suspectAfter(interval: .seconds(3)) == .seconds(3))
        #expect(none.downAfter(interval: .seconds(3)) == .seconds(3))
        #expect(many.suspectAfter(interval: .zero - .seconds(20)) == .zero - HeartbeatPolicy.longest)
    }
}
