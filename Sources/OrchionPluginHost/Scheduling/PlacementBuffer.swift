import COrchionPlugin
import OrchionCore

/// The host-owned answers array a strategy writes placements into, reused
/// across rounds so placing a batch allocates nothing on this side.
final class PlacementBuffer {
    private var answers = UnsafeMutablePointer<orchion_placement>.allocate(capacity: 1)
    private var capacity = 1

    deinit { answers.deallocate() }

    /// Presets `count` answers to "unplaced, no reason" and calls `body` with
    /// the C batch that describes them; returns the answers read back.
    func collect<E: Error>(
        _ count: Int, strategy: String, _ body: (UnsafeMutablePointer<orchion_placement_batch>) throws(E) -> Void
    ) throws(E) -> [PlacementAnswer] {
        if count > capacity {
            answers.deallocate()
            answers = .allocate(capacity: count)
            capacity = count
        }
        for index in 0..<count {
            answers[index].node_index = -1
            answers[index].reason.0 = 0
        }
        var out = orchion_placement_batch(
            struct_size: UInt32(MemoryLayout<orchion_placement_batch>.size),
            placement_size: UInt32(MemoryLayout<orchion_placement>.stride),
            placements: answers, count: count)
        try body(&out)
        return (0..<count).map { PlacementAnswer(answers[$0], from: strategy) }
    }
}
