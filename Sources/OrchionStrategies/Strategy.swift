import COrchionPlugin

/// The built-in placement algorithms.
public enum Strategy: String, Sendable, CaseIterable {
    /// Next node that fits, in turn.
    case roundRobin = "round-robin"
    /// Best fit: the node left fullest after placement (CPU, memory, GPUs).
    case binPacking = "bin-packing"
    /// Least loaded: the node left emptiest after placement.
    case spread
    /// GPU jobs packed onto matching GPU nodes; CPU-only jobs kept off GPU
    /// nodes while other nodes have room.
    case gpuAffinity = "gpu-affinity"
}

/// Places batches of jobs with one strategy. Holds the state a strategy keeps
/// between batches (the round-robin cursor).
///
/// Threading: one placer is used by one thread at a time.
public struct Placer: Sendable {
    /// The algorithm.
    public let strategy: Strategy
    /// Whether gpu-affinity may put CPU-only jobs on GPU nodes when no other node fits.
    public var cpuJobsMayUseGPUNodes = true
    private var cursor = 0

    /// Creates a placer.
    public init(_ strategy: Strategy) {
        self.strategy = strategy
    }

    /// Places every job of `batch` against `cluster` and writes one answer per
    /// job into `out`. Jobs placed earlier in the batch consume resources.
    /// Returns the number of jobs placed.
    @discardableResult
    public mutating func place(
        cluster: UnsafePointer<orchion_cluster_view>,
        batch: UnsafePointer<orchion_job_batch>,
        out: UnsafeMutablePointer<orchion_placement_batch>
    ) -> Int {
        var scratch = BatchScratch(cluster: cluster.pointee)
        let jobs = batch.pointee
        let answers = out.pointee
        var placed = 0
        for index in 0..<min(jobs.job_count, answers.count) {
            let job = jobAt(jobs, index)
            let answer = placementAt(answers, index)
            let chosen = choose(job, &scratch)
            if chosen >= 0 {
                let gpus = scratch.commit(job, node: chosen)
                answer.pointee.node_index = Int64(chosen)
                writeGPUs(gpus, into: answer)
                placed += 1
            } else {
                answer.pointee.node_index = -1
                writeReason(scratch.explain(job), into: answer)
            }
        }
        return placed
    }

    private mutating func choose(_ job: UnsafePointer<orchion_job>, _ scratch: inout BatchScratch) -> Int {
        switch strategy {
        case .roundRobin:
            guard let node = scratch.firstFit(job, from: cursor) else { return -1 }
            cursor = node + 1
            return node
        case .binPacking:
            return scratch.best(job, fullest: true, nodes: .all)
        case .spread:
            return scratch.best(job, fullest: false, nodes: .all)
        case .gpuAffinity:
            if job.pointee.gpu.count > 0 { return scratch.best(job, fullest: true, nodes: .withGPUs) }
            let plain = scratch.best(job, fullest: true, nodes: .withoutGPUs)
            if plain >= 0 || !cpuJobsMayUseGPUNodes { return plain }
            return scratch.best(job, fullest: false, nodes: .withGPUs)
        }
    }
}

/// Names the GPUs a placement takes, when the host gave room for all of them
/// (otherwise leaves `gpu_count` at 0, so the host chooses).
private func writeGPUs(_ gpus: ArraySlice<UInt32>, into answer: UnsafeMutablePointer<orchion_placement>) {
    guard !gpus.isEmpty, let room = answer.pointee.gpus, gpus.count <= Int(answer.pointee.gpu_capacity) else { return }
    for (offset, index) in gpus.enumerated() { room[offset] = index }
    answer.pointee.gpu_count = UInt32(gpus.count)
}

private func writeReason(_ reason: String, into answer: UnsafeMutablePointer<orchion_placement>) {
    withUnsafeMutableBytes(of: &answer.pointee.reason) { buffer in
        let bytes = Array(reason.utf8.prefix(buffer.count - 1))
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
    }
}

@inline(__always)
func jobAt(_ batch: orchion_job_batch, _ index: Int) -> UnsafePointer<orchion_job> {
    UnsafeRawPointer(batch.jobs!).advanced(by: Int(batch.job_size) * index).assumingMemoryBound(to: orchion_job.self)
}

@inline(__always)
func placementAt(_ batch: orchion_placement_batch, _ index: Int) -> UnsafeMutablePointer<orchion_placement> {
    UnsafeMutableRawPointer(batch.placements!).advanced(by: Int(batch.placement_size) * index)
        .assumingMemoryBound(to: orchion_placement.self)
}

@inline(__always)
func labelAt(_ node: orchion_node, _ index: Int) -> UnsafePointer<orchion_kv> {
    UnsafeRawPointer(node.labels!).advanced(by: Int(node.label_size) * index).assumingMemoryBound(to: orchion_kv.self)
}

@inline(__always)
func gpuAt(_ node: orchion_node, _ index: Int) -> UnsafePointer<orchion_gpu> {
    UnsafeRawPointer(node.gpus!).advanced(by: Int(node.gpu_size) * index).assumingMemoryBound(to: orchion_gpu.self)
}

@inline(__always)
func constraintAt(_ job: orchion_job, _ index: Int) -> UnsafePointer<orchion_kv> {
    UnsafeRawPointer(job.constraints!).advanced(by: Int(job.constraint_size) * index)
        .assumingMemoryBound(to: orchion_kv.self)
}

@inline(__always)
func nodeAt(_ view: orchion_cluster_view, _ index: Int) -> UnsafePointer<orchion_node> {
    UnsafeRawPointer(view.nodes!).advanced(by: Int(view.node_size) * index).assumingMemoryBound(to: orchion_node.self)
}
