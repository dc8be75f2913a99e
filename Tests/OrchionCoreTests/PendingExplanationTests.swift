import OrchionCore
import Testing

/// Why-pending text: the fit rule's rejections grouped per reason, with node counts.
@Suite struct PendingExplanationTests {
    private static let gib: UInt64 = 1 << 30

    private func node(
        _ id: String, state: NodeState = .ready, arch: String = "x86_64", cpu: UInt64 = 8000,
        memory: UInt64 = 32 << 30, usedMemory: UInt64 = 0, labels: [String: String] = [:], gpus: [GPU] = [],
        cordoned: Bool = false
    ) -> Node {
        Node(
            id: id, arch: arch, state: state, cpuMillis: cpu, memoryBytes: memory, allocatedMemoryBytes: usedMemory,
            labels: labels, gpus: gpus, cordoned: cordoned)
    }

    private func gpu(_ vendor: String, _ model: String, gib: UInt64, index: UInt32, allocated: Bool = false) -> GPU {
        GPU(vendor: vendor, model: model, memoryBytes: gib * Self.gib, index: index, allocated: allocated)
    }

    @Test func noNodesAtAll() {
        let explanation = PendingExplanation(JobRequirements(cpuMillis: 100), nodes: [Node]())
        #expect(explanation.summary == "no nodes registered")
        #expect(explanation.reasons.isEmpty)
    }

    @Test func gpuShortageAndDrainingGroupMostNodesFirst() {
        let request = JobRequirements(gpu: GPURequest(count: 1, minMemoryBytes: 16 * Self.gib))
        let nodes = [
            node("a", gpus: [gpu("nvidia", "T4", gib: 16, index: 0, allocated: true)]),
            node("b", gpus: [gpu("nvidia", "A100", gib: 40, index: 0, allocated: true)]),
            node("c", state: .draining, gpus: [gpu("nvidia", "A100", gib: 40, index: 0)]),
        ]
        let explanation = PendingExplanation(request, nodes: nodes)
        #expect(explanation.summary == "3 nodes: 2 lack a free GPU with ≥ 16 GiB, 1 is draining")
        #expect(
            explanation.reasons == [
                .init(reason: "lack a free GPU with ≥ 16 GiB", nodes: 2), .init(reason: "is draining", nodes: 1),
            ])
        #expect(explanation.pairs.map(\.nodes) == [2, 1])
    }

    @Test func memoryShortageSaysTheLargestFree() {
        let request = JobRequirements(memoryBytes: 8 * Self.gib)
        let nodes = [
            node("a", memory: 8 * Self.gib, usedMemory: 2 * Self.gib),
            node("b", memory: 8 * Self.gib, usedMemory: 4 * Self.gib),
            node("c", memory: 4 * Self.gib),
            node("d", memory: 16 * Self.gib, usedMemory: 12 * Self.gib + Self.gib / 2),
        ]
        #expect(
            PendingExplanation(request, nodes: nodes).summary
                == "4 nodes: 4 lack 8 GiB of free memory (largest free: 6 GiB)")
    }

    @Test func cpuShortageSaysCores() {
        let request = JobRequirements(cpuMillis: 2500)
        let nodes = [node("a", cpu: 1500), node("b", cpu: 1000)]
        #expect(
            PendingExplanation(request, nodes: nodes).summary
                == "2 nodes: 2 lack 2.5 cores of free CPU (largest free: 1.5 cores)")
    }

    @Test func labelsArchesAndNodeStates() {
        let labelled = JobRequirements(constraints: ["zone": "attic"])
        #expect(
            PendingExplanation(labelled, nodes: [node("a", labels: ["zone": "cellar"])]).summary
                == "1 node: 1 has no label zone=attic")
        let x86 = JobRequirements(arch: "x86_64")
        #expect(
            PendingExplanation(x86, nodes: [node("a", arch: "aarch64"), node("b", arch: "aarch64")]).summary
                == "2 nodes: 2 are aarch64, not x86_64")
        let states = [
            node("a", cordoned: true), node("b", state: .suspect), node("c", state: .down),
            node("d", state: .down), node("e", state: .down, cordoned: true),
        ]
        #expect(
            PendingExplanation(JobRequirements(), nodes: states).summary
                == "5 nodes: 3 are down, 1 is cordoned, 1 is suspect")
    }

    @Test func gpuMismatchesAreSaidAsSuch() {
        func explain(_ request: GPURequest, _ gpus: [GPU]) -> String {
            PendingExplanation(JobRequirements(gpu: request), nodes: [node("n", gpus: gpus)]).summary
        }
        let h100 = gpu("nvidia", "H100 80GB", gib: 80, index: 0)
        let mi = gpu("amd", "MI210", gib: 64, index: 1)
        #expect(explain(GPURequest(count: 1), []) == "1 node: 1 has no GPU")
        #expect(explain(GPURequest(count: 1, vendor: "intel"), [h100, mi]) == "1 node: 1 has no intel GPU")
        #expect(
            explain(GPURequest(count: 1, vendor: "nvidia", model: "A100"), [h100, mi])
                == "1 node: 1 has no GPU of model A100 from nvidia")
        #expect(
            explain(GPURequest(count: 1, vendor: "amd", minMemoryBytes: 128 * Self.gib), [h100, mi])
                == "1 node: 1 has no amd GPU with ≥ 128 GiB (largest: 64 GiB)")
        #expect(
            explain(GPURequest(count: 2, vendor: "nvidia"), [h100, mi])
                == "1 node: 1 has only 1 nvidia GPU, not 2")
        #expect(
            explain(
                GPURequest(count: 2, model: "h100"), [h100, gpu("nvidia", "H100", gib: 80, index: 2, allocated: true)])
                == "1 node: 1 lacks 2 free GPUs of model h100")
    }

    @Test func nodesThatFitButWereDeclinedAreSaid() {
        let request = JobRequirements(cpuMillis: 1000)
        let fitting = [node("a"), node("b")]
        let declined = (strategy: "spread", reason: "spreading: at most one job per node")
        #expect(
            PendingExplanation(request, nodes: fitting, declined: declined).summary
                == "2 nodes fit but strategy spread declined: spreading: at most one job per node")
        let mixed = fitting + [node("c", state: .draining)]
        let explanation = PendingExplanation(request, nodes: mixed, declined: declined)
        #expect(
            explanation.summary
                == "3 nodes: 2 fit but strategy spread declined: spreading: at most one job per node, 1 is draining")
        #expect(
            PendingExplanation(request, nodes: [node("a")]).summary == "1 node fits but was not placed this round")
    }

    @Test func sizesAreBinaryAndHumanRounded() {
        #expect(PendingExplanation.bytes(0) == "0 B")
        #expect(PendingExplanation.bytes(512) == "512 B")
        #expect(PendingExplanation.bytes(1536) == "1.5 KiB")
        #expect(PendingExplanation.bytes(8 * Self.gib) == "8 GiB")
        #expect(PendingExplanation.bytes(6 * Self.gib + Self.gib / 5) == "6.2 GiB")
        #expect(PendingExplanation.bytes(120 << 20) == "120 MiB")
        #expect(PendingExplanation.bytes(Self.gib - 1) == "1 GiB")
        #expect(PendingExplanation.bytes(.max) == "16 EiB")
        #expect(PendingExplanation.cores(1000) == "1 core")
        #expect(PendingExplanation.cores(250) == "0.25 cores")
        #expect(PendingExplanation.cores(0) == "0 cores")
    }
}
