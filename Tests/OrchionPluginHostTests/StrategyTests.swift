import OrchionCore
import OrchionPluginHost
import OrchionStrategies
import TestSupport
import Testing

private let gib: UInt64 = 1 << 30

private func node(_ id: String, cores: UInt64, used: UInt64 = 0, arch: String = "x86_64", gpus: [GPU] = []) -> Node {
    Node(
        id: id, arch: arch, cpuMillis: cores * 1000, memoryBytes: 64 * gib, allocatedCPUMillis: used * 1000,
        gpus: gpus)
}

private func job(_ id: String, millis: UInt64, gpu: GPURequest = .none, arch: String? = nil) -> PendingJob {
    PendingJob(id: id, requirements: JobRequirements(cpuMillis: millis, memoryBytes: gib, gpu: gpu, arch: arch))
}

/// Places `jobs` with `strategy` both through its plugin (the C ABI) and
/// directly, checks both agree, and returns the node id per job ("-" when pending).
private func place(_ strategy: Strategy, _ nodes: [Node], _ jobs: [PendingJob], rounds: Int = 1) throws -> [String] {
    let view = ClusterView()
    try nodes.forEach(view.upsert)
    let plugin = GuardedScheduler(try SchedulerPlugin(try PluginLibrary.open(Paths.builtin(strategy.rawValue))))
    let direct = GuardedScheduler(BuiltinScheduler(strategy))
    var answers: [String] = []
    for _ in 0..<rounds {
        let batch = JobBatch(jobs)
        let viaABI = plugin.schedule(batch, in: view)
        let viaSwift = direct.schedule(batch, in: view)
        #expect(viaABI.invalid.isEmpty && viaABI.failure == nil)
        #expect(viaABI.assignments == viaSwift.assignments, "the plugin and the direct call must agree")
        #expect(viaABI.pending == viaSwift.pending)
        let byJob = Dictionary(uniqueKeysWithValues: viaABI.assignments.map { ($0.jobID, $0.nodeID) })
        answers += batch.jobs.map { byJob[$0.id] ?? "-" }
    }
    return answers
}

@Suite struct StrategyTests {
    @Test func roundRobinTakesTurnsAcrossBatches() throws {
        let nodes = [node("a", cores: 4), node("b", cores: 4), node("c", cores: 4)]
        let jobs = (0..<4).map { job("j\($0)", millis: 100) }
        #expect(try place(.roundRobin, nodes, jobs, rounds: 2) == ["a", "b", "c", "a", "b", "c", "a", "b"])
    }

    @Test func roundRobinSkipsNodesThatDoNotFit() throws {
        let nodes = [node("a", cores: 1), node("b", cores: 8), node("c", cores: 1)]
        #expect(
            try place(
                .roundRobin, nodes, [job("small", millis: 500), job("big", millis: 4000), job("small2", millis: 500)])
                == ["a", "b", "c"])
    }

    @Test func binPackingPicksTheTightestFit() throws {
        let nodes = [node("big", cores: 16), node("medium", cores: 4), node("small", cores: 2)]
        let jobs = [
            job("one-and-half", millis: 1500), job("three", millis: 3000), job("eight", millis: 8000),
            job("half", millis: 500),
        ]
        #expect(try place(.binPacking, nodes, jobs) == ["small", "medium", "big", "small"])
    }

    @Test func binPackingExplainsWhatCannotBePlaced() throws {
        let view = ClusterView()
        try [node("a", cores: 2), node("b", cores: 2, arch: "aarch64")].forEach(view.upsert)
        let result = GuardedScheduler(BuiltinScheduler(.binPacking)).schedule(
            JobBatch([job("huge", millis: 64000), job("arm", millis: 100, arch: "aarch64")]), in: view)
        #expect(result.pending["huge"] == "no node fits (2 nodes): 2 short of CPU")
        #expect(result.assignments.map(\.nodeID) == ["b"])
    }

    @Test func spreadPicksTheLeastLoaded() throws {
        let nodes = [node("n1", cores: 4, used: 3), node("n2", cores: 4, used: 1), node("n3", cores: 4)]
        #expect(try place(.spread, nodes, (0..<3).map { job("j\($0)", millis: 1000) }) == ["n3", "n2", "n3"])
    }

    @Test func gpuAffinityMatchesGPUsAndKeepsCPUJobsOffGPUNodes() throws {
        let h100 = (0..<2).map {
            GPU(vendor: "nvidia", model: "NVIDIA H100 80GB HBM3", memoryBytes: 80 * gib, index: $0)
        }
        let mi210 = [GPU(vendor: "amd", model: "AMD Instinct MI210", memoryBytes: 64 * gib, index: 0)]
        let nodes = [
            node("gpu-nvidia", cores: 32, gpus: h100), node("cpu", cores: 4), node("gpu-amd", cores: 32, gpus: mi210),
        ]
        let jobs = [
            job("cpu-small", millis: 1000),
            job("needs-h100", millis: 1000, gpu: GPURequest(count: 1, vendor: "nvidia", model: "h100")),
            job("needs-amd", millis: 1000, gpu: GPURequest(count: 1, vendor: "amd")),
            job("needs-70g", millis: 1000, gpu: GPURequest(count: 1, minMemoryBytes: 70 * gib)),
            job("needs-two", millis: 1000, gpu: GPURequest(count: 2)),
            job("cpu-big", millis: 6000),
        ]
        // cpu-small stays off GPU nodes; needs-two finds no node with two free
        // GPUs left; cpu-big fits no CPU node and falls back to a GPU node.
        #expect(try place(.gpuAffinity, nodes, jobs) == ["cpu", "gpu-nvidia", "gpu-amd", "gpu-nvidia", "-", "gpu-amd"])
    }

    @Test func gpuAffinityCanRefuseGPUNodesToCPUJobs() throws {
        let view = ClusterView()
        try view.upsert(
            node("gpu", cores: 32, gpus: [GPU(vendor: "nvidia", model: "RTX 4090", memoryBytes: 24 * gib, index: 0)]))
        let plugin = try SchedulerPlugin(
            try PluginLibrary.open(Paths.builtin("gpu-affinity")), config: ["cpu_jobs_on_gpu_nodes": "never"])
        let result = GuardedScheduler(plugin).schedule(JobBatch([job("cpu", millis: 100)]), in: view)
        #expect(result.assignments.isEmpty)
        #expect(result.pending["cpu"] == "no node fits (1 nodes): 1 excluded by the strategy")
    }

    @Test func viewUpdatesAreSeenByTheNextRound() throws {
        let view = ClusterView()
        try [node("a", cores: 2), node("b", cores: 2), node("c", cores: 8)].forEach(view.upsert)
        let plugin = GuardedScheduler(try SchedulerPlugin(try PluginLibrary.open(Paths.builtin("spread"))))
        #expect(plugin.schedule(JobBatch([job("x", millis: 100)]), in: view).assignments.map(\.nodeID) == ["c"])
        view.remove("c")
        var drained = node("b", cores: 2)
        drained.state = .draining
        try view.upsert(drained)
        #expect(view.nodes.map(\.id) == ["a", "b"])
        #expect(plugin.schedule(JobBatch([job("y", millis: 100)]), in: view).assignments.map(\.nodeID) == ["a"])
    }
}

@Suite struct StrategyGPUTests {
    /// GPUs listed out of index order, one of them held by a running job.
    private func gpuNode() -> Node {
        let gpus = [
            GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * gib, index: 4, allocated: true),
            GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * gib, index: 7),
            GPU(vendor: "amd", model: "MI210", memoryBytes: 64 * gib, index: 2),
            GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * gib, index: 0),
        ]
        return node("gpu", cores: 32, gpus: gpus)
    }

    @Test(arguments: Strategy.allCases)
    func everyBuiltinNamesTheGPUsItTakes(_ strategy: Strategy) throws {
        let view = ClusterView()
        try view.upsert(gpuNode())
        let batch = JobBatch([
            job("one-nvidia", millis: 100, gpu: GPURequest(count: 1, vendor: "nvidia")),
            job("one-amd", millis: 100, gpu: GPURequest(count: 1, vendor: "amd")),
            job("one-more-nvidia", millis: 100, gpu: GPURequest(count: 1, vendor: "nvidia")),
            job("cpu", millis: 100),
        ])
        let plugin = try SchedulerPlugin(try PluginLibrary.open(Paths.builtin(strategy.rawValue)))
        let expected: [PlacementAnswer] = [
            .node(0, gpuIndices: [7]), .node(0, gpuIndices: [2]), .node(0, gpuIndices: [0]), .node(0, gpuIndices: []),
        ]
        #expect(try plugin.place(batch, in: view) == expected, "through the C ABI")
        #expect(BuiltinScheduler(strategy).place(batch, in: view) == expected, "called directly")
        let result = GuardedScheduler(plugin).schedule(batch, in: view)
        #expect(result.invalid.isEmpty)
        #expect(result.assignments.map(\.gpuIndices) == [[7], [2], [0], []])
    }
}
