import COrchionPlugin
import OrchionCore

/// The host-owned answers array a strategy writes placements into, with the
/// room for the GPU indices each placement may name, reused across rounds so
/// placing a batch allocates nothing on this side.
///
/// Both arrays are followed by a guard (one spare placement, and spare GPU
/// entries) filled with a pattern: a plugin that writes past the end of its
/// output hits the guard instead of the heap, and `overrun` says so after the
/// call.
///
/// Threading: one thread at a time (the thread placing the batch).
final class PlacementBuffer {
    private var answers = UnsafeMutablePointer<orchion_placement>.allocate(capacity: 1 + 1)
    private var capacity = 1
    private var gpus = UnsafeMutablePointer<UInt32>.allocate(capacity: 1 + gpuGuard)
    private var gpuCapacity = 1
    /// What the last call wrote past, or nil.
    private(set) var overrun: String?

    private static let gpuGuard = 4

    deinit {
        answers.deallocate()
        gpus.deallocate()
    }

    /// Presets one answer per job of `batch` to "unplaced, no reason, no GPUs
    /// named" with room for the job's GPU count, calls `body` with the C batch
    /// that describes them, and returns the answers read back.
    func collect<E: Error>(
        _ batch: JobBatch, strategy: String, _ body: (UnsafeMutablePointer<orchion_placement_batch>) throws(E) -> Void
    ) throws(E) -> [PlacementAnswer] {
        let count = batch.jobs.count
        if count > capacity {
            answers.deallocate()
            answers = .allocate(capacity: count + 1)
            capacity = count
        }
        let gpuTotal = batch.gpuTotal
        if gpuTotal > gpuCapacity {
            gpus.deallocate()
            gpus = .allocate(capacity: gpuTotal + Self.gpuGuard)
            gpuCapacity = gpuTotal
        }
        let answersGuard = UnsafeMutableRawBufferPointer(
            start: answers + count, count: MemoryLayout<orchion_placement>.stride)
        let gpusGuard = UnsafeMutableRawBufferPointer(
            start: gpus + gpuTotal, count: Self.gpuGuard * MemoryLayout<UInt32>.stride)
        answersGuard.initializeMemory(as: UInt8.self, repeating: GuardPattern.byte)
        gpusGuard.initializeMemory(as: UInt8.self, repeating: GuardPattern.byte)
        var next = 0
        for index in 0..<count {
            let room = JobBatch.gpuRoom(batch.jobs[index])
            answers[index].node_index = -1
            answers[index].reason.0 = 0
            answers[index].gpus = room > 0 ? gpus + next : nil
            answers[index].gpu_capacity = UInt32(room)
            answers[index].gpu_count = 0
            next += room
        }
        var out = orchion_placement_batch(
            struct_size: UInt32(MemoryLayout<orchion_placement_batch>.size),
            placement_size: UInt32(MemoryLayout<orchion_placement>.stride),
            placements: answers, count: count)
        try body(&out)
        overrun = nil
        if !GuardPattern.intact(UnsafeRawBufferPointer(answersGuard)) {
            overrun = "its placement array (\(count) entries of \(out.placement_size) bytes)"
        } else if !GuardPattern.intact(UnsafeRawBufferPointer(gpusGuard)) {
            overrun = "its GPU index room (\(gpuTotal) entries)"
        }
        // Read the GPU indices from where the host put the room, never through
        // the pointer or capacity in the answer, which the plugin could change.
        next = 0
        return (0..<count).map { index in
            let room = JobBatch.gpuRoom(batch.jobs[index])
            defer { next += room }
            return PlacementAnswer(
                answers[index], gpus: UnsafeBufferPointer(start: gpus + next, count: room), from: strategy)
        }
    }
}
