import COrchionPlugin

/// The host-owned answers array a strategy writes placements into, with the
/// room for the GPU indices each placement may name, reused across rounds so
/// placing a batch allocates nothing on this side.
///
/// Threading: one thread at a time (the thread placing the batch).
final class PlacementBuffer {
    private var answers = UnsafeMutablePointer<orchion_placement>.allocate(capacity: 1)
    private var capacity = 1
    private var gpus = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    private var gpuCapacity = 1

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
            answers = .allocate(capacity: count)
            capacity = count
        }
        let gpuTotal = batch.gpuTotal
        if gpuTotal > gpuCapacity {
            gpus.deallocate()
            gpus = .allocate(capacity: gpuTotal)
            gpuCapacity = gpuTotal
        }
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
