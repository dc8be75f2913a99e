import Foundation
import OrchionAgent
import Testing

/// Discovery against each fixture tree, with every field asserted exactly.
@Suite struct FixtureDiscoveryTests {
    static let piFlags =
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
        .split(separator: " ").map(String.init)

    @Test func raspberryPi5WithHailo8() {
        let inventory = HostDiscovery(root: AgentFixtures.root("pi5-hailo"), nvmlLibrary: nil).discover()
        #expect(inventory.hostname == "pi5-hailo")
        #expect(inventory.os == "Linux 6.6.31+rpt-rpi-2712")
        #expect(inventory.arch == "aarch64")
        #expect(
            inventory.cpu
                == CPUInventory(
                    model: "Broadcom BCM2712 (ARM Cortex-A76)", cores: 4, threads: 4, flags: Self.piFlags))
        #expect(inventory.memoryBytes == 8_245_072 * 1024)
        #expect(inventory.gpus.isEmpty)
        #expect(
            inventory.accelerators == [
                HostAccelerator(kind: "npu", model: "Hailo-8", count: 1, devices: ["/dev/hailo0"])
            ])
        #expect(inventory.boardModel == "Raspberry Pi 5 Model B Rev 1.0")
        #expect(inventory.raspberryPiModel == "Raspberry Pi 5 Model B Rev 1.0")
        #expect(inventory.labels.isEmpty)
        #expect(inventory.notes.isEmpty)
    }

    @Test func desktopWithRTX4090ThroughStubNVMLAndCoralUSB() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let library = try AgentFixtures.stubNVML(in: directory)
            let inventory = HostDiscovery(root: AgentFixtures.root("desktop-nvidia"), nvmlLibrary: library).discover()
            #expect(inventory.hostname == "desk-4090")
            #expect(inventory.os == "Linux 6.8.0-45-generic")
            #expect(inventory.arch == "x86_64")
            #expect(inventory.cpu.model == "AMD Ryzen 7 7700X 8-Core Processor")
            #expect(inventory.cpu.cores == 8)
            #expect(inventory.cpu.threads == 16)
            #expect(inventory.cpu.flags.count == 157)
            #expect(inventory.cpu.flags.first == "fpu")
            #expect(inventory.cpu.flags.last == "flush_l1d")
            #expect(inventory.cpu.flags.contains("avx512f"))
            #expect(inventory.memoryBytes == 65_551_508 * 1024)
            #expect(
                inventory.gpus == [
                    HostGPU(
                        vendor: "nvidia", model: "NVIDIA GeForce RTX 4090", memoryBytes: 25_757_220_864, index: 0,
                        deviceIndex: 0, driver: "550.54.14", source: .nvml)
                ])
            #expect(
                inventory.accelerators == [
                    HostAccelerator(
                        kind: "edgetpu", model: "Coral USB Accelerator", count: 1,
                        devices: ["/sys/bus/usb/devices/3-2"])
                ])
            #expect(inventory.boardModel == nil)
            #expect(inventory.raspberryPiModel == nil)
            #expect(inventory.notes.isEmpty)
        }
    }

    @Test func amdBoxWithTwoRadeonsInKFDOrderAndXDNANPU() {
        let inventory = HostDiscovery(root: AgentFixtures.root("amd-radeon"), nvmlLibrary: nil).discover()
        #expect(inventory.hostname == "rocm-box")
        #expect(inventory.os == "Linux 6.11.4-301.fc41.x86_64")
        #expect(inventory.arch == "x86_64")
        #expect(inventory.cpu.model == "AMD Ryzen 7 8700G w/ Radeon 780M Graphics")
        #expect(inventory.cpu.cores == 8)
        #expect(inventory.cpu.threads == 16)
        #expect(inventory.memoryBytes == 31_978_176 * 1024)
        #expect(
            inventory.gpus == [
                // Named by libdrm's amdgpu.ids (device 744C, revision C8).
                HostGPU(
                    vendor: "amd", model: "AMD Radeon RX 7900 XTX", memoryBytes: 25_753_026_560, index: 0,
                    deviceIndex: 1, driver: "amdgpu", source: .sysfs, sysfsPath: "/sys/class/drm/card0"),
                // Not in amdgpu.ids: named by pci.ids.
                HostGPU(
                    vendor: "amd", model: "AMD Phoenix1", memoryBytes: 536_870_912, index: 1, deviceIndex: 0,
                    driver: "amdgpu", source: .sysfs, sysfsPath: "/sys/class/drm/card1"),
            ])
        #expect(
            inventory.accelerators == [
                HostAccelerator(kind: "npu", model: "AMD XDNA NPU", count: 1, devices: ["/dev/accel/accel0"])
            ])
        #expect(inventory.boardModel == nil)
        #expect(inventory.notes.isEmpty)
    }

    @Test func plainX86ServerWithoutGPUOrArchFile() {
        let inventory = HostDiscovery(root: AgentFixtures.root("x86-server"), nvmlLibrary: nil).discover()
        #expect(inventory.hostname == "srv-01")
        #expect(inventory.os == "Linux 5.10.0-28-amd64")
        // No /proc/sys/kernel/arch on this kernel: the "lm" flag says x86_64.
        #expect(inventory.arch == "x86_64")
        #expect(inventory.cpu.model == "Intel(R) Xeon(R) Silver 4210R CPU @ 2.40GHz")
        #expect(inventory.cpu.cores == 20)
        #expect(inventory.cpu.threads == 40)
        #expect(inventory.cpu.flags.count == 134)
        #expect(inventory.memoryBytes == 197_553_164 * 1024)
        // The BMC's ASPEED VGA (0x1a03) is a DRM card but not a GPU.
        #expect(inventory.gpus.isEmpty)
        #expect(inventory.accelerators.isEmpty)
        #expect(inventory.boardModel == nil)
        #expect(inventory.notes.isEmpty)
    }

    @Test func configuredLabelsAreMergedIn() {
        let labels = ["zone": "garage", "power": "poe"]
        let inventory = HostDiscovery(root: AgentFixtures.root("pi5-hailo"), nvmlLibrary: nil, labels: labels)
            .discover()
        #expect(inventory.labels == labels)
    }

    @Test func missingTreeReadsAsEmptyWithNotes() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.hostname == "")
            #expect(inventory.os == "Linux")
            #expect(inventory.arch == "unknown")
            #expect(inventory.cpu == CPUInventory(model: "unknown", cores: 0, threads: 0, flags: []))
            #expect(inventory.memoryBytes == 0)
            #expect(
                inventory.notes == [
                    "cannot read \(directory.path)/proc/cpuinfo", "no MemTotal in \(directory.path)/proc/meminfo",
                    "architecture unknown: no /proc/sys/kernel/arch and nothing in /proc/cpuinfo tells",
                ])
        }
    }
}
