import OrchionAgentDaemon
import TestSupport
import Testing

@Suite struct BackoffTests {
    @Test func delaysDoubleFromHalfASecondToThirtySecondsWithFullJitter() {
        var backoff = Backoff()
        var random = SeededGenerator(seed: 7)
        var ceilings: [UInt64] = []
        for _ in 0..<10 {
            let ceiling = backoff.ceilingMillis
            let delay = backoff.next(using: &random)
            #expect(delay <= ceiling)
            ceilings.append(ceiling)
        }
        #expect(ceilings == [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000])
        backoff.reset()
        #expect(backoff.ceilingMillis == 500)
    }
}
