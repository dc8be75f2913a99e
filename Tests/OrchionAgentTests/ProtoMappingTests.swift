import OrchionAgent
import OrchionAgentProto
import OrchionProto
import Testing

/// The plain values as `orchion.v1` messages.
@Suite struct ProtoMappingTests {
    @Test func capabilitiesFromTheAMDBox() {
        let inventory = HostDiscovery(root: AgentFixtures.root("amd-radeon"), nvmlLibrary: nil).discover()
        let message = Orchion_V1_Capabilities(inventory, agentVersion: "0.1.0", executors: ["exec"])
        #expect(message.arch == "x86_64")
        #expect(message.os == "Linux 6.11.4-301.fc41.x86_64")
        #expect(message.cpuCores == 16)
        #expect(message.cpuModel == "AMD Ryzen 7 8700G w/ Radeon 780M Graphics")
        #expect(message.memoryBytes == 31_978_176 * 1024)
        #expect(message.gpus.map(\.vendor) == ["amd", "amd"])
        #expect(message.gpus.map(\.model) == ["AMD Radeon RX 7900 XTX", "AMD Phoenix1"])
        #expect(message.gpus.map(\.memoryBytes) == [25_753_026_560, 536_870_912])
        #expect(message.gpus.map(\.index) == [0, 1])
        #expect(message.gpus.map(\.driver) == ["amdgpu", "amdgpu"])
        #expect(message.gpus.allSatisfy { !$0.allocated })
        #expect(message.accelerators.map(\.kind) == ["npu"])
        #expect(message.accelerators.map(\.model) == ["AMD XDNA NPU"])
        #expect(message.accelerators.map(\.count) == [1])
        #expect(message.agentVersion == "0.1.0")
        #expect(message.executors == ["exec"])
    }

    @Test func telemetryWithAbsentReadingsAsZero() {
        let sample = TelemetrySample(
            loadAverage1m: 0.42, cpuUtilization: 0.25, memoryUsedBytes: 1024,
            gpus: [GPUSample(index: 3, utilization: 0.5, memoryUsedBytes: 7, temperatureCelsius: 61)],
            sampledAt: WallTime(seconds: 1_764_400_000, nanos: 500))
        let message = Orchion_V1_Telemetry(sample)
        #expect(message.cpuUtilization == 0.25)
        #expect(message.memoryUsedBytes == 1024)
        #expect(message.loadAverage1M == 0.42)
        #expect(message.gpus.count == 1)
        #expect(message.gpus.first?.index == 3)
        #expect(message.gpus.first?.utilization == 0.5)
        #expect(message.gpus.first?.memoryUsedBytes == 7)
        #expect(message.gpus.first?.temperatureCelsius == 61)
        #expect(message.gpus.first?.powerWatts == 0)
        #expect(message.sampledAt.seconds == 1_764_400_000)
        #expect(message.sampledAt.nanos == 500)
        #expect(Orchion_V1_Telemetry(TelemetrySample()).cpuUtilization == 0)
    }
}
