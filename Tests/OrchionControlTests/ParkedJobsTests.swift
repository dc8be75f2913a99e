import OrchionControl
import OrchionCore
import Testing

@Suite struct ParkedJobsTests {
    private static let gib: UInt64 = 1 << 30

    private func node(
        _ id: String, cpu: UInt64 = 8_000, memory: UInt64 = 16 * gib, state: NodeState = .ready,
        labels: [String: String] = [:], gpus: [GPU] = []
    ) -> Node {
        Node(id: id, state: state, cpuMillis: cpu, memoryBytes: memory, labels: labels, gpus: gpus)
    }

    @Test func aParkedJobWakesOnlyForANodeItFits() {
        var parked = ParkedJobs()
        parked.park("big", JobRequirements(cpuMillis: 16_000))
        parked.park("gpu", JobRequirements(gpu: GPURequest(count: 1, vendor: "nvidia", minMemoryBytes: 16 * Self.gib)))
        parked.park("labelled", JobRequirements(constraints: ["zone": "b"]))
        parked.park("arm", JobRequirements(arch: "aarch64"))
        #expect(parked.count == 4)

        #expect(parked.wake(fittingAnyOf: [node("small", cpu: 8_000)]).isEmpty)
        #expect(parked.wake(fittingAnyOf: [node("zone-a", labels: ["zone": "a"])]).isEmpty)
        let smallGPU = GPU(vendor: "nvidia", model: "T4", memoryBytes: 15 * Self.gib, index: 0)
        #expect(parked.wake(fittingAnyOf: [node("t4", gpus: [smallGPU])]).isEmpty)
        let busyGPU = GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * Self.gib, index: 0, allocated: true)
        #expect(parked.wake(fittingAnyOf: [node("busy", gpus: [busyGPU])]).isEmpty)
        #expect(parked.count == 4)

        let bigGPU = GPU(vendor: "nvidia", model: "H100", memoryBytes: 80 * Self.gib, index: 1)
        #expect(parked.wake(fittingAnyOf: [node("small"), node("h100", gpus: [busyGPU, bigGPU])]) == ["gpu"])
        #expect(!parked.contains("gpu"))
        #expect(parked.count == 3)

        let woken = parked.wake(fittingAnyOf: [node("zone-b", labels: ["zone": "b"]), node("huge", cpu: 64_000)])
        #expect(Set(woken) == ["labelled", "big"])
        #expect(woken.count == 2)
        #expect(parked.count == 1)
        #expect(parked.contains("arm"))
        // Woken once: no node wakes them again.
        #expect(parked.wake(fittingAnyOf: [node("huge", cpu: 64_000)]).isEmpty)
    }

    @Test(arguments: [NodeState.draining, .suspect, .down])
    func aNodeThatIsNotReadyWakesNothing(state: NodeState) {
        var parked = ParkedJobs()
        parked.park("any", JobRequirements())
        #expect(parked.wake(fittingAnyOf: [node("n1", state: state)]).isEmpty)
        #expect(parked.contains("any"))
        #expect(parked.wake(fittingAnyOf: [node("n1", state: state), node("n2")]) == ["any"])
    }

    @Test func resourcesHeldOnANodeCountAgainstTheFit() {
        var parked = ParkedJobs()
        parked.park("j", JobRequirements(cpuMillis: 2_000, memoryBytes: 4 * Self.gib))
        var full = node("n1", cpu: 4_000, memory: 8 * Self.gib)
        full.allocatedCPUMillis = 3_000
        #expect(parked.wake(fittingAnyOf: [full]).isEmpty)
        full.allocatedCPUMillis = 2_000
        #expect(parked.wake(fittingAnyOf: [full]) == ["j"])
    }

    @Test func aNodeWithRoomForTwoJobsWakesTheTwoOldestAndAJobThatStillFitsBehindThem() {
        var parked = ParkedJobs()
        for index in 0..<5 { parked.park("j\(index)", JobRequirements(cpuMillis: 1_000)) }
        parked.park("small", JobRequirements(cpuMillis: 100))
        var busy = node("n1", cpu: 4_000)
        busy.allocatedCPUMillis = 1_900
        #expect(parked.wake(fittingAnyOf: [busy]) == ["j0", "j1", "small"])
        #expect(parked.count == 3)
        busy.allocatedCPUMillis = 4_000
        #expect(parked.wake(fittingAnyOf: [busy]).isEmpty)
    }

    @Test func aJobParkedAgainGoesBehindAndParkedBeforeLeavesItOut() {
        var parked = ParkedJobs()
        parked.park("a", JobRequirements(cpuMillis: 1_000))
        parked.park("b", JobRequirements(cpuMillis: 1_000))
        let room = node("n1", cpu: 1_000)
        #expect(parked.wake(fittingAnyOf: [room]) == ["a"])
        let pass = parked.sequence
        parked.park("a", JobRequirements(cpuMillis: 1_000))
        #expect(parked.wake(fittingAnyOf: [room], parkedBefore: pass) == ["b"])
        #expect(parked.wake(fittingAnyOf: [room], parkedBefore: pass).isEmpty)
        #expect(parked.wakeAll() == ["a"])
    }

    @Test func noNodesWakeNothing() {
        var parked = ParkedJobs()
        parked.park("j", JobRequirements())
        #expect(parked.wake(fittingAnyOf: []).isEmpty)
        #expect(parked.count == 1)
    }

    @Test func parkingAgainReplacesTheRequirements() {
        var parked = ParkedJobs()
        parked.park("j", JobRequirements(cpuMillis: 100_000))
        parked.park("j", JobRequirements(cpuMillis: 1_000))
        #expect(parked.count == 1)
        #expect(parked.wake(fittingAnyOf: [node("n1")]) == ["j"])
    }

    @Test func aRemovedJobIsNotWoken() {
        var parked = ParkedJobs()
        parked.park("a", JobRequirements())
        parked.park("b", JobRequirements())
        parked.remove("a")
        parked.remove("absent")
        #expect(!parked.contains("a"))
        #expect(parked.wake(fittingAnyOf: [node("n1")]) == ["b"])
        #expect(parked.wakeAll().isEmpty)
    }

    @Test func wakeAllReturnsEveryParkedJobOnceWhateverItNeeds() {
        var parked = ParkedJobs()
        parked.park("a", JobRequirements(cpuMillis: .max))
        parked.park("b", JobRequirements(arch: "riscv64"))
        parked.park("c", JobRequirements())
        #expect(Set(parked.wakeAll()) == ["a", "b", "c"])
        #expect(parked.count == 0)
        #expect(!parked.contains("a"))
        #expect(parked.wakeAll().isEmpty)
        parked.park("d", JobRequirements())
        #expect(parked.wakeAll() == ["d"])
    }
}
