import COrchionPlugin
import OrchionCore
import TestSupport
import Testing

@testable import OrchionPluginHost
@testable import OrchionStrategies

/// The fit rule exists twice: `NodeLedger` over Swift values (the host's
/// check of every answer) and `BatchScratch` over the C view (the built-in
/// strategies' hot path). These tests hold the two to one verdict, node by
/// node and job by job, over thousands of seeded random clusters and batches.
@Suite struct FitRuleAgreementTests {
    private static let cases = 3_000

    /// For every job of a random batch and every node of a random cluster,
    /// both rules give the same verdict (the same first broken rule) and pick
    /// the same GPUs; the job is then committed to a random fitting node on
    /// both sides so later jobs see what earlier ones took.
    @Test func verdictsAndGPUPicksAgreeNodeByNodeOverRandomClusters() throws {
        var random = SeededGenerator(seed: 0x0_0C41_0A11)
        var compared = 0
        var fits = 0
        var gpuPicks = 0
        for run in 0..<Self.cases {
            let nodes = RandomCluster.nodes(&random)
            let jobs = RandomCluster.jobs(&random)
            let view = ClusterView()
            try nodes.forEach(view.upsert)
            let batch = JobBatch(jobs)
            try view.withCView { cluster in
                try batch.withCBatch { cBatch in
                    var scratch = BatchScratch(cluster: cluster.pointee)
                    var ledgers = Array(repeating: NodeLedger(), count: view.nodes.count)
                    for (jobIndex, job) in batch.jobs.enumerated() {
                        let cJob = jobAt(cBatch.pointee, jobIndex)
                        var fitting: [Int] = []
                        for (nodeIndex, node) in view.nodes.enumerated() {
                            let fast = scratch.problem(cJob, nodeIndex)
                            let rule: PlacementRejection?
                            let picked: [UInt32]
                            do throws(PlacementRejection) {
                                picked = try NodeLedger.check(job.requirements, on: node, excluding: ledgers[nodeIndex])
                                rule = nil
                            } catch {
                                picked = []
                                rule = error
                            }
                            compared += 1
                            #expect(
                                fast == rule.map(Self.problem), "run \(run), job \(job.id), node \(node.id): \(node)")
                            guard fast == nil, rule == nil else { continue }
                            fitting.append(nodeIndex)
                            let count = Int(job.requirements.gpu.count)
                            if count > 0 {
                                gpuPicks += 1
                                #expect(
                                    Array(scratch.matchingFreeGPUs(cJob, nodeIndex).prefix(count)) == picked,
                                    "run \(run), job \(job.id), node \(node.id)")
                            }
                        }
                        fits += fitting.count
                        guard !fitting.isEmpty else { continue }
                        let chosen = fitting[random.next(fitting.count)]
                        _ = scratch.commit(cJob, node: chosen)
                        _ = try ledgers[chosen].admit(job.requirements, on: view.nodes[chosen])
                    }
                }
            }
        }
        // The generator must exercise both verdicts and the GPU picks, or the test proves nothing.
        #expect(
            compared > 100_000 && fits > compared / 10 && fits < compared * 9 / 10 && gpuPicks > 1_000,
            "\(compared) \(fits) \(gpuPicks)")
    }

    /// Every built-in strategy, called directly over the C view: each
    /// placement it makes passes `NodeLedger`, and for each job it leaves
    /// pending no node passes `NodeLedger` either, with the same count of
    /// nodes per broken rule in its reason.
    @Test func builtInStrategiesPlaceExactlyWhatTheLedgerAdmits() throws {
        var random = SeededGenerator(seed: 0x5EED)
        var placed = 0
        var pending = 0
        for run in 0..<Self.cases / 2 {
            let nodes = RandomCluster.nodes(&random)
            let jobs = RandomCluster.jobs(&random)
            let view = ClusterView()
            try nodes.forEach(view.upsert)
            let batch = JobBatch(jobs)
            for strategy in Strategy.allCases {
                let result = GuardedScheduler(BuiltinScheduler(strategy)).schedule(batch, in: view)
                #expect(result.failure == nil && result.invalid.isEmpty, "run \(run), \(strategy): \(result.invalid)")
                let assigned = Dictionary(uniqueKeysWithValues: result.assignments.map { ($0.jobID, $0) })
                var ledgers = Array(repeating: NodeLedger(), count: view.nodes.count)
                for job in batch.jobs {
                    if let assignment = assigned[job.id], let index = view.index(of: assignment.nodeID) {
                        placed += 1
                        let gpus = try ledgers[index].admit(job.requirements, on: view.nodes[index])
                        #expect(gpus == assignment.gpuIndices)
                        continue
                    }
                    pending += 1
                    var tally: [BatchScratch.Problem: Int] = [:]
                    for (index, node) in view.nodes.enumerated() {
                        do throws(PlacementRejection) {
                            _ = try NodeLedger.check(job.requirements, on: node, excluding: ledgers[index])
                            Issue.record("run \(run), \(strategy) left \(job.id) pending but \(node.id) fits")
                        } catch {
                            tally[Self.problem(error), default: 0] += 1
                        }
                    }
                    let parts = BatchScratch.Problem.allCases.compactMap { problem in
                        tally[problem].map { "\($0) \(problem.phrase)" }
                    }
                    let expected =
                        view.nodes.isEmpty
                        ? "no nodes in the cluster"
                        : "no node fits (\(view.nodes.count) nodes): " + parts.joined(separator: ", ")
                    #expect(result.pending[job.id] == expected, "run \(run), \(strategy), job \(job.id)")
                }
            }
        }
        #expect(placed > 10_000 && pending > 10_000, "\(placed) \(pending)")
    }

    /// The hot path's name for the first rule a job breaks.
    private static func problem(_ rejection: PlacementRejection) -> BatchScratch.Problem {
        switch rejection {
        case .nodeNotReady, .nodeCordoned: .notReady  // the C view shows a cordoned node draining
        case .archMismatch: .arch
        case .constraintUnmet: .constraint
        case .insufficientCPU: .cpu
        case .insufficientMemory: .memory
        case .insufficientGPUs, .gpuCountMismatch, .gpuNamedTwice, .noSuchGPU, .gpuUnavailable: .gpu
        case .noSuchNode: .filtered
        }
    }
}

/// Random clusters and batches built to hit every rule and its edges: nodes
/// ready or not, several arches, labels (some differing only in Unicode
/// normalisation), CPU and memory from none to plenty (some over-allocated),
/// GPUs of several vendors, models and sizes, some allocated; jobs with and
/// without arch, label, GPU vendor/model/memory filters.
enum RandomCluster {
    private static let gib: UInt64 = 1 << 30
    private static let arches = ["x86_64", "aarch64", "riscv64"]
    private static let labelKeys = ["zone", "disk", "tier", "caf\u{E9}", "cafe\u{301}"]
    private static let labelValues = ["a", "b", "ssd", "\u{E9}", "e\u{301}"]
    private static let models = [
        ("nvidia", "NVIDIA H100 80GB HBM3", 80), ("nvidia", "NVIDIA GeForce RTX 4090", 24),
        ("nvidia", "Tesla T4", 16), ("amd", "AMD Instinct MI210", 64), ("intel", "Intel Data Center GPU Max 1100", 48),
    ]
    private static let modelFilters = ["h100", "RTX", "t4", "MI2", "max", "", "a100"]
    private static let vendorFilters = ["nvidia", "NVIDIA", "amd", "intel", ""]

    static func nodes(_ random: inout SeededGenerator) -> [Node] {
        (0..<random.next(13)).map { index in
            let cpu = UInt64(random.next(17)) * 1000
            let memory = UInt64(random.next(33)) * gib
            let overAllocated = random.next(20) == 0
            let usedCPU = overAllocated ? cpu + 1000 : UInt64(random.next(Int(cpu / 500) + 1)) * 250
            let usedMemory = overAllocated ? memory + gib : UInt64(random.next(Int(memory / (gib / 2)) + 1)) * (gib / 4)
            var indices = Array(UInt32(0)..<8)
            indices.shuffle(using: &random)
            let gpuCount = random.next(2) == 0 ? 1 + random.next(6) : 0
            let gpus = (0..<gpuCount).map { slot in
                let model = models[random.next(models.count)]
                return GPU(
                    vendor: model.0, model: model.1, memoryBytes: UInt64(model.2) * gib,
                    index: indices[slot], allocated: random.next(4) == 0)
            }
            var labels: [String: String] = [:]
            for key in labelKeys where random.next(2) == 0 { labels[key] = labelValues[random.next(labelValues.count)] }
            let states: [NodeState] = [.ready, .ready, .ready, .ready, .ready, .ready, .draining, .suspect, .down]
            return Node(
                id: "n\(index)", arch: arches[random.next(arches.count)], state: states[random.next(states.count)],
                cpuMillis: cpu, memoryBytes: memory, allocatedCPUMillis: usedCPU, allocatedMemoryBytes: usedMemory,
                labels: labels, gpus: gpus, cordoned: random.next(10) == 0)
        }
    }

    static func jobs(_ random: inout SeededGenerator) -> [PendingJob] {
        (0..<(1 + random.next(16))).map { index in
            let gpu =
                random.next(3) == 0
                ? GPURequest(
                    count: UInt32(1 + random.next(2)),
                    vendor: random.next(2) == 0 ? vendorFilters[random.next(vendorFilters.count)] : nil,
                    model: random.next(3) == 0 ? modelFilters[random.next(modelFilters.count)] : nil,
                    minMemoryBytes: random.next(3) == 0 ? UInt64(random.next(90)) * gib : 0)
                : .none
            var constraints: [String: String] = [:]
            if random.next(4) == 0 {
                for key in labelKeys where random.next(4) == 0 {
                    constraints[key] = labelValues[random.next(labelValues.count)]
                }
            }
            let requirements = JobRequirements(
                cpuMillis: UInt64(random.next(9)) * 250, memoryBytes: UInt64(random.next(9)) * gib / 4, gpu: gpu,
                arch: random.next(6) == 0 ? arches[random.next(arches.count)] : nil, constraints: constraints,
                priority: Int32(random.next(3)))
            return PendingJob(id: "j\(index)", requirements: requirements)
        }
    }
}
