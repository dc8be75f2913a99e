import Foundation
import OrchionCore
import Testing

private let gib: UInt64 = 1 << 30

private func node(
    _ id: String = "n1", arch: String = "x86_64", state: NodeState = .ready, cpu: UInt64 = 4000,
    memory: UInt64 = 8 * gib, labels: [String: String] = [:], gpus: [GPU] = []
) -> Node {
    Node(
        id: id, arch: arch, state: state, cpuMillis: cpu, memoryBytes: memory, labels: labels, gpus: gpus)
}

@Suite struct NodeLedgerTests {
    @Test func admitsWhatFitsAndCountsItAgainstLaterJobs() throws {
        var ledger = NodeLedger()
        let target = node(cpu: 4000)
        _ = try ledger.admit(JobRequirements(cpuMillis: 3000), on: target)
        #expect(ledger.taken.cpuMillis == 3000)
        #expect(throws: PlacementRejection.insufficientCPU(node: "n1", needed: 2000, free: 1000)) {
            try ledger.admit(JobRequirements(cpuMillis: 2000), on: target)
        }
        #expect(ledger.taken.cpuMillis == 3000, "a refused job takes nothing")
    }

    @Test func refusesEachBrokenRuleWithWhatItExpected() {
        let cases: [(JobRequirements, Node, PlacementRejection)] = [
            (JobRequirements(), node(state: .draining), .nodeNotReady(node: "n1", state: .draining)),
            (
                JobRequirements(memoryBytes: 9 * gib), node(),
                .insufficientMemory(node: "n1", needed: 9 * gib, free: 8 * gib)
            ),
            (JobRequirements(arch: "aarch64"), node(), .archMismatch(node: "n1", expected: "aarch64", found: "x86_64")),
            (
                JobRequirements(constraints: ["zone": "b"]), node(labels: ["zone": "a"]),
                .constraintUnmet(node: "n1", key: "zone", expected: "b", found: "a")
            ),
            (
                JobRequirements(constraints: ["ssd": "yes"]), node(),
                .constraintUnmet(node: "n1", key: "ssd", expected: "yes", found: nil)
            ),
            (JobRequirements(gpu: GPURequest(count: 1)), node(), .insufficientGPUs(node: "n1", needed: 1, matching: 0)),
        ]
        for (requirements, target, expected) in cases {
            #expect(throws: expected) { try NodeLedger.check(requirements, on: target) }
        }
        #expect(
            PlacementRejection.archMismatch(node: "n1", expected: "aarch64", found: "x86_64").description
                == "node n1 is x86_64: expected aarch64")
    }

    @Test func assignsOnlyMatchingFreeGPUsAndNeverTwice() throws {
        let gpus = [
            GPU(vendor: "nvidia", model: "NVIDIA GeForce RTX 4090", memoryBytes: 24 * gib, index: 0),
            GPU(vendor: "NVIDIA", model: "NVIDIA H100 80GB", memoryBytes: 80 * gib, index: 1),
            GPU(vendor: "nvidia", model: "NVIDIA H100 80GB", memoryBytes: 80 * gib, index: 2, allocated: true),
            GPU(vendor: "amd", model: "AMD Instinct MI210", memoryBytes: 64 * gib, index: 3),
        ]
        let target = node(gpus: gpus)
        var ledger = NodeLedger()
        let h100 = JobRequirements(gpu: GPURequest(count: 1, vendor: "nvidia", model: "h100"))
        #expect(try ledger.admit(h100, on: target) == [1])
        #expect(throws: PlacementRejection.insufficientGPUs(node: "n1", needed: 1, matching: 0)) {
            try ledger.admit(h100, on: target)
        }
        let big = JobRequirements(gpu: GPURequest(count: 1, minMemoryBytes: 60 * gib))
        #expect(try ledger.admit(big, on: target) == [3])
        #expect(try ledger.admit(JobRequirements(gpu: GPURequest(count: 1)), on: target) == [0])
    }

    @Test func checksGPUIndicesASchedulerNamedInsteadOfPicking() throws {
        let gpus = [
            GPU(vendor: "nvidia", model: "NVIDIA H100 80GB", memoryBytes: 80 * gib, index: 4),
            GPU(vendor: "nvidia", model: "NVIDIA H100 80GB", memoryBytes: 80 * gib, index: 5),
            GPU(vendor: "nvidia", model: "NVIDIA H100 80GB", memoryBytes: 80 * gib, index: 6, allocated: true),
            GPU(vendor: "amd", model: "AMD Instinct MI210", memoryBytes: 64 * gib, index: 7),
        ]
        let target = node(gpus: gpus)
        let two = JobRequirements(gpu: GPURequest(count: 2, vendor: "nvidia"))
        var ledger = NodeLedger()
        #expect(try ledger.admit(JobRequirements(gpu: GPURequest(count: 1)), on: target, gpuIndices: [5]) == [5])
        let refusals: [([UInt32], JobRequirements, PlacementRejection)] = [
            ([4], two, .gpuCountMismatch(node: "n1", needed: 2, named: 1)),
            ([4], JobRequirements(), .gpuCountMismatch(node: "n1", needed: 0, named: 1)),
            ([4, 4], two, .gpuNamedTwice(node: "n1", index: 4)),
            ([4, 9], two, .noSuchGPU(node: "n1", index: 9, available: [4, 5, 6, 7])),
            ([4, 6], two, .gpuUnavailable(node: "n1", index: 6, found: "allocated")),
            ([4, 5], two, .gpuUnavailable(node: "n1", index: 5, found: "taken earlier in this batch")),
            (
                [4, 7], two,
                .gpuUnavailable(
                    node: "n1", index: 7,
                    found: "amd AMD Instinct MI210 with \(64 * gib) bytes, not matching the request")
            ),
        ]
        for (named, requirements, expected) in refusals {
            #expect(throws: expected) { try ledger.admit(requirements, on: target, gpuIndices: named) }
        }
        #expect(ledger.takenGPUs == [5], "a refused placement takes nothing")
        #expect(
            try ledger.admit(JobRequirements(gpu: GPURequest(count: 2)), on: target, gpuIndices: [7, 4]) == [7, 4])
        #expect(
            PlacementRejection.noSuchGPU(node: "n1", index: 9, available: [4, 5]).description
                == "node n1 has no GPU 9: expected one of [4, 5]")
    }

    @Test func comparesArchAndLabelsByteForByte() throws {
        // "café" precomposed and decomposed: equal as Swift strings, different bytes
        // (the C view, and so every scheduler plugin, sees the bytes).
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        #expect(throws: PlacementRejection.constraintUnmet(node: "n1", key: decomposed, expected: "x", found: "x")) {
            try NodeLedger.check(JobRequirements(constraints: [decomposed: "x"]), on: node(labels: [composed: "x"]))
        }
        #expect(throws: PlacementRejection.constraintUnmet(node: "n1", key: "k", expected: decomposed, found: composed))
        {
            try NodeLedger.check(JobRequirements(constraints: ["k": decomposed]), on: node(labels: ["k": composed]))
        }
        #expect(throws: PlacementRejection.archMismatch(node: "n1", expected: decomposed, found: composed)) {
            try NodeLedger.check(JobRequirements(arch: decomposed), on: node(arch: composed))
        }
        _ = try NodeLedger.check(
            JobRequirements(arch: composed, constraints: [composed: composed]),
            on: node(
                arch: composed, labels: [composed: composed]))
    }

    @Test func countsFreeResourcesFromAllocatedOnesAndClampsOverAllocation() throws {
        var target = node(cpu: 4000, memory: 4 * gib)
        target.allocatedCPUMillis = 3000
        target.allocatedMemoryBytes = 5 * gib
        #expect(throws: PlacementRejection.insufficientCPU(node: "n1", needed: 1500, free: 1000)) {
            try NodeLedger.check(JobRequirements(cpuMillis: 1500), on: target)
        }
        #expect(throws: PlacementRejection.insufficientMemory(node: "n1", needed: 1, free: 0)) {
            try NodeLedger.check(JobRequirements(memoryBytes: 1), on: target)
        }
        _ = try NodeLedger.check(JobRequirements(cpuMillis: 1000), on: target)
    }
}

@Suite struct ResourcesTests {
    @Test func sumsSaturateInsteadOfTrapping() {
        let big = Resources(cpuMillis: .max - 1, memoryBytes: .max, gpus: .max)
        #expect(
            big + Resources(cpuMillis: 5, memoryBytes: 1, gpus: 1)
                == Resources(cpuMillis: .max, memoryBytes: .max, gpus: .max))
    }

    @Test func arithmeticClampsAndCompares() {
        let a = Resources(cpuMillis: 1000, memoryBytes: 10, gpus: 1)
        let b = Resources(cpuMillis: 300, memoryBytes: 20, gpus: 1)
        #expect(a - b == Resources(cpuMillis: 700, memoryBytes: 0, gpus: 0))
        #expect(a + b == Resources(cpuMillis: 1300, memoryBytes: 30, gpus: 2))
        #expect(!b.fits(in: a))
        #expect(Resources(cpuMillis: 1000, memoryBytes: 10, gpus: 1).fits(in: a))
    }
}

/// A cordoned node keeps its jobs and takes no new ones.
@Suite struct CordonTests {
    @Test func aCordonedNodeIsRejectedSayingSo() throws {
        var node = Node(id: "n", cpuMillis: 4000, memoryBytes: 1 << 30, cordoned: true)
        let job = JobRequirements(cpuMillis: 100)
        #expect(throws: PlacementRejection.nodeCordoned(node: "n")) { try NodeLedger.check(job, on: node) }
        #expect(
            PlacementRejection.nodeCordoned(node: "n").description == "node n is cordoned: expected an uncordoned node")
        node.cordoned = false
        #expect(try NodeLedger.check(job, on: node) == [])
    }

    @Test func nodesEncodedBeforeCordonDecodeUncordoned() throws {
        let node = Node(id: "n", cpuMillis: 4000, memoryBytes: 1 << 30, cordoned: true)
        let encoded = try JSONEncoder().encode(node)
        #expect(try JSONDecoder().decode(Node.self, from: encoded) == node)
        var object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        object["cordoned"] = nil
        let old = try JSONSerialization.data(withJSONObject: object)
        #expect(try JSONDecoder().decode(Node.self, from: old).cordoned == false)
    }
}
