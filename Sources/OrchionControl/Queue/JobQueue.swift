/// The pending jobs ready to be placed, highest priority first and FIFO
/// within a priority (by submission order).
///
/// A binary heap with lazy removal: `remove` forgets the id, and the heap
/// drops the stale entry when it reaches the top. Pushing an id that is
/// queued already does nothing.
///
/// Threading: a value; confine it like its owner.
public struct JobQueue: Sendable {
    /// Where an entry sorts: an id's live entry is the one whose key its
    /// `queued` value matches.
    private struct Key: Sendable, Hashable {
        let priority: Int32
        let order: UInt64
    }

    private struct Entry: Sendable {
        let priority: Int32
        let order: UInt64
        let id: String

        var key: Key { Key(priority: priority, order: order) }

        /// Whether `self` comes out before `other`.
        func precedes(_ other: Entry) -> Bool {
            priority != other.priority ? priority > other.priority : order < other.order
        }
    }

    private var heap: [Entry] = []
    private var queued: [String: Key] = [:]

    public init() {}

    /// Jobs queued.
    public var count: Int { queued.count }

    public var isEmpty: Bool { queued.isEmpty }

    public func contains(_ id: String) -> Bool { queued[id] != nil }

    /// Queues job `id`.
    public mutating func push(_ id: String, priority: Int32, order: UInt64) {
        guard queued[id] == nil else { return }
        queued[id] = Key(priority: priority, order: order)
        heap.append(Entry(priority: priority, order: order, id: id))
        siftUp(heap.count - 1)
    }

    /// Takes job `id` out of the queue, if it is there.
    public mutating func remove(_ id: String) {
        guard queued.removeValue(forKey: id) != nil else { return }
        if heap.count > 2 * queued.count + 64 { compact() }
    }

    /// Drops the stale entries left by `remove`.
    private mutating func compact() {
        heap.removeAll { queued[$0.id] != $0.key }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    /// Takes up to `limit` jobs off the top, in order.
    public mutating func pop(_ limit: Int) -> [String] {
        var batch: [String] = []
        batch.reserveCapacity(min(limit, queued.count))
        while batch.count < limit, let top = heap.first {
            removeTop()
            // A removed id, or one removed and pushed again (a newer entry,
            // which may sort elsewhere), is stale.
            guard queued[top.id] == top.key else { continue }
            queued[top.id] = nil
            batch.append(top.id)
        }
        return batch
    }

    private mutating func removeTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count, heap[left].precedes(heap[first]) { first = left }
            if right < heap.count, heap[right].precedes(heap[first]) { first = right }
            guard first != parent else { return }
            heap.swapAt(parent, first)
            parent = first
        }
    }
}
