import COrchionPlugin
import OrchionCore
import OrchionStrategies

/// A batch of pending jobs in the C layout a scheduler plugin reads, ordered
/// by priority (highest first, then submission order). Build it once per
/// scheduling round; it may be placed any number of times.
///
/// Threading: immutable after creation; used by one thread at a time.
public final class JobBatch {
    /// The jobs in batch order.
    public let jobs: [PendingJob]
    /// The GPU indices all placements of this batch may name together.
    let gpuTotal: Int
    private let strings = CStrings()
    private let cJobs: UnsafeMutablePointer<orchion_job>
    private let constraints: UnsafeMutablePointer<orchion_kv>

    /// Creates a batch; `jobs` are reordered by priority.
    public init(_ jobs: [PendingJob]) {
        self.jobs = jobs.enumerated()
            .sorted { ($0.element.requirements.priority, -$0.offset) > ($1.element.requirements.priority, -$1.offset) }
            .map(\.element)
        cJobs = .allocate(capacity: max(jobs.count, 1))
        let constraintCount = jobs.reduce(0) { $0 + $1.requirements.constraints.count }
        constraints = .allocate(capacity: max(constraintCount, 1))
        gpuTotal = jobs.reduce(0) { $0 + Self.gpuRoom($1) }
        var next = 0
        for (index, job) in self.jobs.enumerated() {
            let requirements = job.requirements
            let first = constraints + next
            for (key, value) in requirements.constraints.sorted(by: { $0.key < $1.key }) {
                constraints[next] = orchion_kv(key: strings.keep(key), value: strings.keep(value))
                next += 1
            }
            let resources = requirements.resources
            (cJobs + index).initialize(
                to: orchion_job(
                    id: strings.keep(job.id),
                    resources: orchion_resources(
                        cpu_millis: resources.cpuMillis, memory_bytes: resources.memoryBytes,
                        gpus: resources.gpus, reserved: 0),
                    gpu: orchion_gpu_request(
                        count: requirements.gpu.count, reserved: 0,
                        vendor: requirements.gpu.vendor.map(strings.keep),
                        model: requirements.gpu.model.map(strings.keep),
                        min_memory_bytes: requirements.gpu.minMemoryBytes),
                    arch: requirements.arch.map(strings.keep),
                    constraints: UnsafePointer(first), constraint_count: requirements.constraints.count,
                    constraint_size: UInt32(MemoryLayout<orchion_kv>.stride), priority: requirements.priority))
        }
    }

    /// How many GPU indices a placement of `job` may name: its GPU count, up
    /// to ORCHION_PLACEMENT_GPUS_MAX (a job asking more fits no node).
    static func gpuRoom(_ job: PendingJob) -> Int {
        min(Int(job.requirements.gpu.count), Int(ORCHION_PLACEMENT_GPUS_MAX))
    }

    deinit {
        cJobs.deallocate()
        constraints.deallocate()
    }

    /// Calls `body` with the C batch; valid only during the call.
    func withCBatch<T>(_ body: (UnsafePointer<orchion_job_batch>) throws -> T) rethrows -> T {
        var batch = orchion_job_batch(
            struct_size: UInt32(MemoryLayout<orchion_job_batch>.size),
            job_size: UInt32(MemoryLayout<orchion_job>.stride),
            jobs: UnsafePointer(cJobs), job_count: jobs.count)
        return try body(&batch)
    }
}
