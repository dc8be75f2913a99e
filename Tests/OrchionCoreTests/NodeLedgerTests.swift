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
}

@Suite struct JobSpecTests {
    @Test func acceptsACommandOrAnArgv() throws {
        try JobSpec(id: "a", command: "echo hi").validate()
        try JobSpec(id: "b", argv: ["/bin/echo", "hi"], env: ["GREETING": "hi"]).validate()
    }

    @Test func refusesTyposWithAClearMessage() {
        let bad: [(JobSpec, String)] = [
            (JobSpec(id: "a"), "expected a command or an argv, found neither"),
            (JobSpec(id: "a", command: "x", argv: ["y"]), "expected either a command or an argv, found both"),
            (JobSpec(id: "has space", command: "x"), "invalid job spec field 'id'"),
            (
                JobSpec(id: "a", command: "x", env: ["A=B": "c"]),
                "expected variable names without '=' or NUL, found A=B"
            ),
            (JobSpec(id: "a", argv: [""]), "expected a program name in argv[0]"),
        ]
        for (spec, message) in bad {
            do {
                try spec.validate()
                Issue.record("accepted \(spec)")
            } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }
}

@Suite struct ResourcesTests {
    @Test func arithmeticClampsAndCompares() {
        let a = Resources(cpuMillis: 1000, memoryBytes: 10, gpus: 1)
        let b = Resources(cpuMillis: 300, memoryBytes: 20, gpus: 1)
        #expect(a - b == Resources(cpuMillis: 700, memoryBytes: 0, gpus: 0))
        #expect(a + b == Resources(cpuMillis: 1300, memoryBytes: 30, gpus: 2))
        #expect(!b.fits(in: a))
        #expect(Resources(cpuMillis: 1000, memoryBytes: 10, gpus: 1).fits(in: a))
    }
}
