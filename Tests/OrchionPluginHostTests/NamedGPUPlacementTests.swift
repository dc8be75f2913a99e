import OrchionCore
import Testing

@testable import OrchionPluginHost

/// A placement may name the node's GPUs it takes; the host checks them with
/// the fit rule before any assignment carries them.
@Suite struct NamedGPUPlacementTests {
    private static let gib: UInt64 = 1 << 30

    private func view() throws -> ClusterView {
        let view = ClusterView()
        try view.upsert(
            Node(
                id: "gpu-node", cpuMillis: 8000, memoryBytes: 64 * Self.gib,
                gpus: (0..<4).map {
                    GPU(
                        vendor: "nvidia", model: "Tesla T4", memoryBytes: 16 * Self.gib, index: 10 + $0,
                        allocated: $0 == 3)
                }))
        return view
    }

    private func batch() -> JobBatch {
        JobBatch(
            (0..<4).map {
                PendingJob(id: "j\($0)", requirements: JobRequirements(cpuMillis: 100, gpu: GPURequest(count: 1)))
            })
    }

    @Test func namedGPUsReachTheAssignmentAndBadOnesAreRefused() throws {
        var result = ScheduleResult()
        GuardedScheduler.check(
            [.node(0, gpuIndices: [12]), .node(0, gpuIndices: [12]), .node(0, gpuIndices: [13]), .node(0)],
            batch: batch(), view: try view(), strategy: "named", into: &result)
        #expect(
            result.assignments == [
                Assignment(jobID: "j0", nodeID: "gpu-node", gpuIndices: [12]),
                Assignment(jobID: "j3", nodeID: "gpu-node", gpuIndices: [10]),
            ])
        #expect(
            result.invalid.map(\.problem) == [
                .gpuUnavailable(node: "gpu-node", index: 12, found: "taken earlier in this batch"),
                .gpuUnavailable(node: "gpu-node", index: 13, found: "allocated"),
            ])
        #expect(result.pending.keys.sorted() == ["j1", "j2"])
    }
}

/// What the view admits: only nodes that pass `Node.validate()`.
@Suite struct ClusterViewAdmissionTests {
    @Test func aNodeWithTwoGPUsOfOneIndexIsRefusedAndTheViewUnchanged() throws {
        let view = ClusterView()
        try view.upsert(Node(id: "n1", cpuMillis: 1000, memoryBytes: 1 << 30))
        let twice = (0..<2).map { _ in GPU(vendor: "nvidia", model: "T4", memoryBytes: 1 << 34, index: 3) }
        #expect(throws: NodeError.invalidField("gpus", expected: "distinct GPU indices", found: "index 3 twice")) {
            try view.upsert(Node(id: "n2", cpuMillis: 1000, memoryBytes: 1 << 30, gpus: twice))
        }
        #expect(view.nodes.map(\.id) == ["n1"])
    }

    @Test func theSyntheticClustersPassValidation() throws {
        for node in SyntheticCluster.nodes(1000) + SyntheticCluster.checkNodes() { try node.validate() }
    }
}
