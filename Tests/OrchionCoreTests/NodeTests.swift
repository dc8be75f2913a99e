import OrchionCore
import Testing

private let gib: UInt64 = 1 << 30

@Suite struct NodeTests {
    private func gpu(_ index: UInt32, allocated: Bool = false) -> GPU {
        GPU(vendor: "nvidia", model: "Tesla T4", memoryBytes: 16 * gib, index: index, allocated: allocated)
    }

    @Test func gpuCountsComeFromTheGPUListAlone() {
        var node = Node(
            id: "n1", cpuMillis: 8000, memoryBytes: 32 * gib, allocatedCPUMillis: 2000, allocatedMemoryBytes: 4 * gib,
            gpus: [gpu(0), gpu(1, allocated: true), gpu(2)])
        #expect(node.capacity == Resources(cpuMillis: 8000, memoryBytes: 32 * gib, gpus: 3))
        #expect(node.allocated == Resources(cpuMillis: 2000, memoryBytes: 4 * gib, gpus: 1))
        #expect(node.free == Resources(cpuMillis: 6000, memoryBytes: 28 * gib, gpus: 2))
        node.gpus[0].allocated = true
        node.gpus.append(gpu(3))
        #expect(node.capacity.gpus == 4 && node.allocated.gpus == 2 && node.free.gpus == 2)
    }

    @Test func acceptsAWellFormedNode() throws {
        try Node(
            id: "gpu-7", arch: "aarch64", cpuMillis: 4000, memoryBytes: gib, labels: ["zone": "a"],
            gpus: [gpu(0), gpu(3)]
        ).validate()
    }

    @Test func refusesInconsistentNodesSayingWhatWasExpected() {
        var lying = Node(id: "n1", cpuMillis: 1000, memoryBytes: gib, gpus: [gpu(0)])
        lying.gpus[0] = GPU(vendor: "x", model: "m", memoryBytes: 1, index: 0)
        let bad: [(Node, String)] = [
            (Node(id: "", cpuMillis: 1, memoryBytes: 1), "invalid node field 'id': expected 1–253 characters"),
            (Node(id: "a b", cpuMillis: 1, memoryBytes: 1), "found a b"),
            (Node(id: "n", arch: "", cpuMillis: 1, memoryBytes: 1), "field 'arch'"),
            (Node(id: "n", cpuMillis: 1, memoryBytes: 1, labels: ["": "x"]), "expected non-empty label keys"),
            (
                Node(id: "n", cpuMillis: 1, memoryBytes: 1, gpus: [gpu(2), gpu(2)]),
                "invalid node field 'gpus': expected distinct GPU indices, found index 2 twice"
            ),
            (Node(id: "n", cpuMillis: 1, memoryBytes: 1, labels: ["k": "v\0"]), "expected strings without NUL bytes"),
            (
                Node(id: "n", cpuMillis: 1, memoryBytes: 1, gpus: (0...1024).map { gpu(UInt32($0)) }),
                "invalid node field 'gpus': expected at most 1024 GPUs, found 1025"
            ),
            (
                Node(
                    id: "n", cpuMillis: 1, memoryBytes: 1,
                    labels: Dictionary(uniqueKeysWithValues: (0...256).map { ("k\($0)", "v") })),
                "invalid node field 'labels': expected at most 256 labels, found 257"
            ),
            (
                Node(id: "n", cpuMillis: 1, memoryBytes: 1, labels: ["k": String(repeating: "v", count: 1025)]),
                "expected keys and values of at most 1024 bytes, found 1-byte key, 1025-byte value"
            ),
        ]
        for (node, message) in bad {
            do {
                try node.validate()
                Issue.record("accepted \(node)")
            } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }

    @Test func gpuVendorsAreStoredLowerCasedAndCompareByBytes() {
        var card = GPU(vendor: "NVIDIA", model: "NVIDIA H100 80GB", memoryBytes: 80 * gib, index: 0)
        #expect(card.vendor == "nvidia")
        card.vendor = "Intel"
        #expect(card.vendor == "intel")
        #expect(card.matches(GPURequest(count: 1, vendor: "INTEL", model: "h100", minMemoryBytes: 80 * gib)))
        #expect(!card.matches(GPURequest(count: 1, vendor: "amd")))
        #expect(!card.matches(GPURequest(count: 1, model: "a100")))
        #expect(!card.matches(GPURequest(count: 1, minMemoryBytes: 80 * gib + 1)))
        #expect(card.matches(GPURequest(count: 1, model: "")), "an empty model means any")
    }
}

extension NodeTests {
    @Test func aNodeThatCameBackSmallerThanItsJobsIsValidAndHasNothingFree() throws {
        let shrunk = Node(
            id: "n", cpuMillis: 1000, memoryBytes: 1 << 30, allocatedCPUMillis: 1500, allocatedMemoryBytes: 2 << 30)
        try shrunk.validate()
        #expect(shrunk.free == Resources(cpuMillis: 0, memoryBytes: 0, gpus: 0))
    }
}
