import Testing

@testable import OrchionAgent

/// The hand-written parsers, on the shapes the kernel and tools write.
@Suite struct ParsingTests {
    @Test(
        arguments: [
            ("0-3", 4), ("0", 1), ("0-3,6,8-9", 7), ("0-127\n", 128), ("", nil), ("3-1", nil), ("a-b", nil),
            ("0-1-2", nil), ("-1", nil),
        ] as [(String, Int?)])
    func cpuLists(text: String, count: Int?) {
        #expect(KernelText.cpuListCount(text) == count)
    }

    @Test func armCoresAreNamedFromImplementerAndPart() {
        let pi4 = CPUInfo("processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n")
        #expect(pi4.armCoreName == "ARM Cortex-A72")
        #expect(pi4.guessedArch == "aarch64")
        let unknown = CPUInfo("processor\t: 0\nCPU implementer\t: 0x51\nCPU part\t: 0x802\n")
        #expect(unknown.armCoreName == "Qualcomm part 0x802")
        let armv7 = CPUInfo("processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nCPU architecture: 7\n")
        #expect(armv7.guessedArch == "armv7l")
    }

    @Test func thirtyTwoBitPiKernelKeepsItsModelNameAndArch() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/proc/cpuinfo": """
                    processor\t: 0
                    model name\t: ARMv7 Processor rev 4 (v7l)
                    Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32
                    CPU implementer\t: 0x41
                    CPU architecture: 7
                    CPU part\t: 0xd03

                    Hardware\t: BCM2835
                    Revision\t: a02082
                    Model\t\t: Raspberry Pi 3 Model B Rev 1.2

                    """
                ], under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.cpu.model == "ARMv7 Processor rev 4 (v7l)")
            #expect(inventory.arch == "armv7l")
            #expect(inventory.boardModel == nil)
        }
    }

    @Test func armWithoutModelNameOrDeviceTreeUsesHardwareLine() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/proc/cpuinfo":
                        "processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n\n"
                        + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
                ], under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.cpu.model == "BCM2835 (ARM Cortex-A72)")
            #expect(inventory.arch == "aarch64")
        }
    }

    @Test func deviceTreeFromFirmwareWhenProcHasNoLink() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/proc/cpuinfo":
                        "processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n",
                    "/sys/firmware/devicetree/base/model": "Raspberry Pi 4 Model B Rev 1.4\0",
                    "/sys/firmware/devicetree/base/compatible": "raspberrypi,4-model-b\0brcm,bcm2711\0",
                ], under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.cpu.model == "Broadcom BCM2711 (ARM Cortex-A72)")
            #expect(inventory.raspberryPiModel == "Raspberry Pi 4 Model B Rev 1.4")
        }
    }

    @Test func socNamesFromDeviceTreeCompatible() {
        #expect(HostDiscovery.socName("raspberrypi,5-model-b\0brcm,bcm2712\0") == "Broadcom BCM2712")
        #expect(HostDiscovery.socName("radxa,rock-5b\0rockchip,rk3588\0") == "Rockchip RK3588")
        #expect(HostDiscovery.socName("acme,board\0acme,chip-9\0") == "CHIP-9")
        #expect(HostDiscovery.socName("\0") == nil)
    }

    @Test func memInfoValues() {
        let text = "MemTotal:        8245072 kB\nMemAvailable:    7512340 kB\nHugePages_Total:       0\n"
        #expect(KernelText.memInfoBytes(text, "MemTotal") == 8_245_072 * 1024)
        #expect(KernelText.memInfoBytes(text, "MemAvailable") == 7_512_340 * 1024)
        #expect(KernelText.memInfoBytes(text, "HugePages_Total") == 0)
        #expect(KernelText.memInfoBytes(text, "Mem") == nil)
        #expect(KernelText.memInfoBytes("MemTotal: 18446744073709551615 kB\n", "MemTotal") == nil)
    }

    @Test func nvidiaSMIRowsWithCommasInTheName() throws {
        let text = "0, NVIDIA H200, 143771, 560.35.03\n1, Some, Odd, Name, 1024, 560.35.03\n\n"
        let gpus = try NvidiaDiscovery.parseSMI(text).get()
        #expect(gpus.map(\.model) == ["NVIDIA H200", "Some, Odd, Name"])
        #expect(gpus.map(\.memoryBytes) == [143_771 << 20, 1024 << 20])
        #expect(gpus.map(\.index) == [0, 1])
        #expect(gpus.map(\.driver) == ["560.35.03", "560.35.03"])
    }

    @Test func nvidiaSMIRefusesShortRowsAndOverflow() {
        #expect(throws: DiscoveryError.self) { try NvidiaDiscovery.parseSMI("0, NVIDIA H200, 143771\n").get() }
        #expect(throws: DiscoveryError.self) {
            try NvidiaDiscovery.parseSMI("0, X, 18446744073709551615, 1\n").get()
        }
    }
}
