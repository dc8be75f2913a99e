import OrchionControl
import Testing

@Suite struct JobQueueTests {
    @Test func higherPriorityComesFirstAndFIFOWithinAPriority() {
        var queue = JobQueue()
        queue.push("low-1", priority: 0, order: 1)
        queue.push("high-3", priority: 5, order: 3)
        queue.push("low-2", priority: 0, order: 2)
        queue.push("high-4", priority: 5, order: 4)
        queue.push("negative", priority: -1, order: 0)
        queue.push("high-0", priority: 5, order: 0)
        #expect(queue.count == 6)
        #expect(queue.pop(10) == ["high-0", "high-3", "high-4", "low-1", "low-2", "negative"])
        #expect(queue.isEmpty)
        #expect(queue.pop(10).isEmpty)
    }

    @Test func popTakesAtMostItsLimitAndLeavesTheRestInOrder() {
        var queue = JobQueue()
        for order in 0..<10 { queue.push("j\(order)", priority: 0, order: UInt64(order)) }
        #expect(queue.pop(0).isEmpty)
        #expect(queue.pop(-1).isEmpty)
        #expect(queue.pop(3) == ["j0", "j1", "j2"])
        #expect(queue.count == 7)
        #expect(!queue.contains("j0"))
        #expect(queue.contains("j3"))
        #expect(queue.pop(100) == ["j3", "j4", "j5", "j6", "j7", "j8", "j9"])
    }

    @Test func pushingAQueuedIdAgainDoesNothing() {
        var queue = JobQueue()
        queue.push("a", priority: 0, order: 1)
        queue.push("b", priority: 0, order: 2)
        queue.push("b", priority: 9, order: 0)
        #expect(queue.count == 2)
        #expect(queue.pop(10) == ["a", "b"])
    }

    @Test func aRemovedJobIsNeverPopped() {
        var queue = JobQueue()
        for order in 0..<5 { queue.push("j\(order)", priority: 0, order: UInt64(order)) }
        queue.remove("j0")
        queue.remove("j3")
        queue.remove("absent")
        #expect(queue.count == 3)
        #expect(!queue.contains("j0"))
        #expect(queue.pop(10) == ["j1", "j2", "j4"])
    }

    @Test func aJobPushedAgainAfterItsRemovalComesOutOnceInItsPlace() {
        var queue = JobQueue()
        queue.push("a", priority: 0, order: 1)
        queue.push("b", priority: 0, order: 2)
        queue.push("c", priority: 0, order: 3)
        queue.remove("b")
        queue.push("b", priority: 0, order: 2)
        #expect(queue.count == 3)
        #expect(queue.pop(10) == ["a", "b", "c"])
        #expect(queue.isEmpty)
    }

    /// The stale entry of a removed job must not stand in for the job pushed
    /// again with another priority (its place is the new one's).
    @Test func aJobPushedAgainWithAnotherPriorityTakesItsNewPlace() {
        var queue = JobQueue()
        queue.push("a", priority: 0, order: 1)
        queue.push("b", priority: 0, order: 2)
        queue.push("c", priority: 5, order: 3)
        queue.remove("b")
        queue.push("b", priority: 9, order: 2)
        #expect(queue.pop(10) == ["b", "c", "a"])

        queue.push("x", priority: 9, order: 1)
        queue.push("y", priority: 5, order: 2)
        queue.remove("x")
        queue.push("x", priority: 0, order: 1)
        #expect(queue.pop(10) == ["y", "x"])
    }

    @Test func compactionAfterManyRemovalsKeepsTheOrder() {
        var queue = JobQueue()
        for order in 0..<1_000 { queue.push("j\(order)", priority: Int32(order % 7), order: UInt64(order)) }
        // Removing 900 of 1,000 crosses the compaction threshold several times.
        for order in 0..<1_000 where order % 10 != 0 { queue.remove("j\(order)") }
        #expect(queue.count == 100)
        queue.push("late", priority: 3, order: 5_000)
        var expected: [(id: String, priority: Int32, order: UInt64)] = [("late", 3, 5_000)]
        for order in stride(from: 0, to: 1_000, by: 10) {
            expected.append((id: "j\(order)", priority: Int32(order % 7), order: UInt64(order)))
        }
        expected.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.order < $1.order }
        #expect(queue.pop(1_000) == expected.map(\.id))
    }

    /// 10,000 random pushes, removes and pops against a model that keeps the
    /// queued jobs in a sorted array: the same answers, count and membership
    /// after every operation.
    @Test func randomOperationsAgreeWithASortedArrayModel() {
        struct Item: Equatable {
            let id: String
            let priority: Int32
            let order: UInt64
            func precedes(_ other: Item) -> Bool {
                priority != other.priority ? priority > other.priority : order < other.order
            }
        }
        var random = SeededGenerator(seed: 0x0_0000_0C0E_0E0E)
        var queue = JobQueue()
        var model: [Item] = []
        var nextOrder: UInt64 = 0
        var known: [Item] = []
        var pops = 0
        var popped = 0
        for step in 0..<10_000 {
            switch random.next(10) {
            case 0..<5:
                // A new job, or one seen before pushed again (with its own priority and order, or a new priority).
                let item: Item
                if !known.isEmpty, random.next(3) == 0 {
                    let old = known[random.next(known.count)]
                    item =
                        random.next(4) == 0 ? Item(id: old.id, priority: Int32(random.next(5)), order: old.order) : old
                } else {
                    item = Item(id: "j\(nextOrder)", priority: Int32(random.next(5)) - 2, order: nextOrder)
                    nextOrder += 1
                    known.append(item)
                }
                queue.push(item.id, priority: item.priority, order: item.order)
                if !model.contains(where: { $0.id == item.id }) {
                    let index = model.firstIndex { item.precedes($0) } ?? model.endIndex
                    model.insert(item, at: index)
                }
            case 5..<8:
                let id = known.isEmpty ? "none" : known[random.next(known.count)].id
                queue.remove(id)
                model.removeAll { $0.id == id }
            default:
                let limit = random.next(6)
                let batch = queue.pop(limit)
                let expected = model.prefix(limit).map(\.id)
                model.removeFirst(min(limit, model.count))
                #expect(batch == expected, "step \(step): popped \(batch), expected \(expected)")
                pops += 1
                popped += batch.count
            }
            #expect(queue.count == model.count, "step \(step)")
            #expect(queue.isEmpty == model.isEmpty, "step \(step)")
            if !known.isEmpty {
                let probe = known[random.next(known.count)].id
                #expect(queue.contains(probe) == model.contains { $0.id == probe }, "step \(step): \(probe)")
            }
        }
        #expect(queue.pop(Int.max) == model.map(\.id))
        // The mix exercised every operation.
        #expect(pops > 1_000)
        #expect(popped > 1_000)
    }
}
