import Foundation
import OrchionAgent
import Testing

/// Telemetry samples from fixture files, with exact values.
@Suite struct TelemetrySamplerTests {
    @Test func cpuUtilizationIsTheBusyShareBetweenTwoSamples() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            // total 1000 ticks, idle + iowait 800.
            try AgentFixtures.write(["/proc/stat": "cpu  100 0 100 700 100 0 0 0 0 0\nctxt 1\n"], under: directory)
            var sampler = TelemetrySampler(root: HostRoot(directory.path))
            // total 1800 (+800), idle + iowait 1400 (+600): busy 200 of 800.
            try AgentFixtures.write(["/proc/stat": "cpu  250 0 150 1300 100 0 0 0 0 0\n"], under: directory)
            #expect(sampler.sample().cpuUtilization == 0.25)
            // Nothing moved: 0.
            #expect(sampler.sample().cpuUtilization == 0)
            // iowait went back (the kernel allows it) and the total with it: 0, not a wrap-around.
            try AgentFixtures.write(["/proc/stat": "cpu  250 0 150 1300 90 0 0 0 0 0\n"], under: directory)
            #expect(sampler.sample().cpuUtilization == 0)
            // From that reading: +1000 total, all of it busy (irq, softirq, steal count as busy).
            try AgentFixtures.write(["/proc/stat": "cpu  650 100 350 1300 90 100 200 100 0 0\n"], under: directory)
            #expect(sampler.sample().cpuUtilization == 1)
            // A malformed file: no reading, and the next one is measured from the last good one.
            try AgentFixtures.write(["/proc/stat": "cpu  x\n"], under: directory)
            #expect(sampler.sample().cpuUtilization == nil)
            try AgentFixtures.write(["/proc/stat": "cpu  650 100 350 1700 90 100 200 100 0 0\n"], under: directory)
            #expect(sampler.sample().cpuUtilization == 0)
        }
    }

    @Test func piSampleHasLoadMemoryAndThermalZone() {
        var sampler = TelemetrySampler(root: AgentFixtures.root("pi5-hailo"))
        let sample = sampler.sample()
        #expect(sample.loadAverage1m == 0.42)
        #expect(sample.cpuUtilization == 0)  // the same /proc/stat twice
        #expect(sample.memoryTotalBytes == 8_245_072 * 1024)
        #expect(sample.memoryUsedBytes == (8_245_072 - 7_512_340) * 1024)
        #expect(sample.gpus.isEmpty)
        #expect(sample.thermalZones == [ThermalZone(zone: "thermal_zone0", type: "cpu-thermal", celsius: 51.35)])
        #expect(sample.sampledAt.seconds > 1_700_000_000)
    }

    @Test func serverThermalZones() {
        var sampler = TelemetrySampler(root: AgentFixtures.root("x86-server"))
        #expect(
            sampler.sample().thermalZones == [
                ThermalZone(zone: "thermal_zone0", type: "acpitz", celsius: 27.8),
                ThermalZone(zone: "thermal_zone1", type: "x86_pkg_temp", celsius: 42),
            ])
    }

    @Test func memoryUsedWithoutMemAvailableCountsCachesAsFree() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                ["/proc/meminfo": "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"],
                under: directory)
            var sampler = TelemetrySampler(root: HostRoot(directory.path))
            let sample = sampler.sample()
            #expect(sample.memoryUsedBytes == 600 * 1024)
            #expect(sample.loadAverage1m == nil)
            #expect(sample.cpuUtilization == nil)
        }
    }

    @Test func amdGPUsAreSampledFromSysfs() {
        let root = AgentFixtures.root("amd-radeon")
        let inventory = HostDiscovery(root: root, nvmlLibrary: nil).discover()
        var sampler = TelemetrySampler(root: root, gpus: inventory.gpus)
        #expect(
            sampler.sample().gpus == [
                GPUSample(
                    index: 0, utilization: 0.03, memoryUsedBytes: 25_753_026_560 / 24, temperatureCelsius: 52,
                    powerWatts: 62),
                GPUSample(
                    index: 1, utilization: 0, memoryUsedBytes: 536_870_912 / 24, temperatureCelsius: 41, powerWatts: 9),
            ])
    }

    @Test func nvidiaGPUIsSampledThroughStubNVML() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let library = try AgentFixtures.stubNVML(in: directory)
            let nvml = try NVML.load(library)
            let root = AgentFixtures.root("desktop-nvidia")
            let inventory = HostDiscovery(root: root, nvmlLibrary: nil, nvidiaSMI: nil).discover(nvml: nvml)
            var sampler = TelemetrySampler(root: root, gpus: inventory.gpus, nvml: nvml)
            #expect(
                sampler.sample().gpus == [
                    GPUSample(
                        index: 0, utilization: 0.37, memoryUsedBytes: 2_147_483_648, temperatureCelsius: 45,
                        powerWatts: 123.456)
                ])
        }
    }

    @Test func unsupportedNVMLReadingIsNil() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let library = try AgentFixtures.stubNVML(in: directory, defines: ["STUB_NO_POWER"])
            let nvml = try NVML.load(library)
            let sample = try nvml.usage(index: 0)
            #expect(sample.powerWatts == nil)
            #expect(sample.temperatureCelsius == 45)
            #expect(
                throws: NVMLError.failed(function: "nvmlDeviceGetHandleByIndex_v2", code: 2, reason: "Invalid Argument")
            ) {
                try nvml.usage(index: 1)
            }
        }
    }
}
