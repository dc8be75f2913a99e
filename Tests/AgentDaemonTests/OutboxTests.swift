import Foundation
import OrchionProto
import Testing

@testable import OrchionAgentDaemon

@Suite struct OutboxTests {
    private func event(_ job: String) -> Orchion_V1_AgentMessage {
        .with { $0.jobEvent = .with { $0.jobID = job } }
    }

    private func log(_ bytes: Int, offset: UInt64) -> Orchion_V1_AgentMessage {
        .with {
            $0.logChunk = .with {
                $0.jobID = "j"
                $0.offset = offset
                $0.data = Data(repeating: 65, count: bytes)
            }
        }
    }

    @Test func messagesSentOnAStreamThatEndsBeforeConfirmationAreSentAgainInOrder() {
        let outbox = Outbox(spoolLimitBytes: 1 << 20, confirmMillis: 1000)
        var delivered: [UInt64] = []
        outbox.onDelivered = { delivered += $0 }
        outbox.opened(1, wake: {})
        outbox.add(event("a"), key: nil)
        outbox.add(event("b"), key: nil)
        let first = outbox.takeBatch()
        #expect(first.map { $0.message?.jobEvent.jobID } == ["a", "b"])
        outbox.sent(first.map(\.id), on: 1, at: 10_000)
        outbox.confirm(now: 10_500)
        #expect(outbox.count == 2)
        outbox.add(event("c"), key: nil)
        // The stream ends: a and b (sent, unconfirmed) go back before c.
        _ = outbox.closed(1)
        #expect(outbox.takeBatch().isEmpty)
        outbox.opened(2, wake: {})
        let second = outbox.takeBatch()
        #expect(second.map { $0.message?.jobEvent.jobID } == ["a", "b", "c"])
        outbox.sent(second.map(\.id), on: 2, at: 20_000)
        outbox.confirm(now: 21_000)
        #expect(outbox.isEmpty)
        #expect(delivered.isEmpty)  // none was journaled
    }

    @Test func outputPausesOverTheMemoryMarkAndResumesOnceTaken() {
        let outbox = Outbox(spoolLimitBytes: 1 << 20, confirmMillis: 1000)
        var resumed = 0
        outbox.onResume = { resumed += 1 }
        outbox.opened(1, wake: {})
        var offset: UInt64 = 0
        while !outbox.shouldPause {
            outbox.addOutput(log(64 << 10, offset: offset), key: AttemptKey("j", 1), bytes: 64 << 10)
            offset += 64 << 10
        }
        outbox.notePaused()
        #expect(outbox.queuedMemoryBytes > outbox.memoryHighBytes)
        var taken = 0
        while true {
            let batch = outbox.takeBatch()
            if batch.isEmpty { break }
            taken += batch.count
        }
        #expect(taken == Int(offset / (64 << 10)))
        #expect(resumed == 1)
        #expect(!outbox.shouldPause)
    }

    @Test func sentOutputPastTheUnconfirmedLimitCountsAsDeliveredOldestFirstDownToTheLowerMark() {
        let outbox = Outbox(spoolLimitBytes: 1 << 20, confirmMillis: 1000)
        outbox.unconfirmedLimitBytes = 1 << 20
        outbox.unconfirmedDropToBytes = 512 << 10
        outbox.opened(1, wake: {})
        // 17 chunks of 64 KiB, each sent on its own: the 17th batch passes
        // 1 MiB unconfirmed (16 sent + itself, not yet marked sent).
        for index in 0..<17 {
            outbox.addOutput(log(64 << 10, offset: UInt64(index) << 16), key: AttemptKey("j", 1), bytes: 64 << 10)
            let batch = outbox.takeBatch()
            #expect(batch.count == 1)
            outbox.sent(batch.map(\.id), on: 1, at: 10_000)
        }
        // The 9 oldest counted as delivered at once, down to 512 KiB.
        #expect(outbox.unconfirmedMemoryBytes == 512 << 10)
        #expect(outbox.count == 8)
        // The stream ends: what is left goes again, oldest first, from chunk 9.
        _ = outbox.closed(1)
        outbox.opened(2, wake: {})
        let again = outbox.takeBatch(maxBytes: 4 << 20)
        #expect(again.map { $0.message?.logChunk.offset ?? 0 } == (9..<17).map { UInt64($0) << 16 })
    }
}
