import Foundation
import OrchionAgent
import Testing

/// Reading the kernel's files under a root: what is refused and what bad
/// contents turn into.
@Suite struct HostRootTests {
    @Test func fifoAtAFilesPathReadsAsMissingWithoutBlocking() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("proc"), withIntermediateDirectories: true)
            #expect(mkfifo(directory.appendingPathComponent("proc/meminfo").path, 0o600) == 0)
            let root = HostRoot(directory.path)
            #expect(root.bytes("/proc/meminfo") == nil)
            #expect(root.exists("/proc/meminfo"))
            let inventory = HostDiscovery(root: root, nvmlLibrary: nil).discover()
            #expect(inventory.memoryBytes == 0)
        }
    }

    @Test func trailingSlashesAndValuesAreTrimmed() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                ["/proc/sys/kernel/hostname": "  box\r\n", "/proc/device-tree/model": "Board X\0"], under: directory)
            let root = HostRoot(directory.path + "//")
            #expect(root.path == directory.path)
            #expect(root.resolve("/proc/x") == directory.path + "/proc/x")
            #expect(HostRoot("/").resolve("/proc/x") == "/proc/x")
            #expect(root.value("/proc/sys/kernel/hostname") == "box")
            #expect(root.value("/proc/device-tree/model") == "Board X")
        }
    }

    @Test func entriesAreInNaturalOrder() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                ["/dev/hailo10": "", "/dev/hailo2": "", "/dev/hailo0": "", "/dev/apex_1": ""], under: directory)
            #expect(HostRoot(directory.path).entries("/dev") == ["apex_1", "hailo0", "hailo2", "hailo10"])
            #expect(HostRoot(directory.path).entries("/missing") == [])
        }
    }

    @Test func malformedKernelFilesGiveZerosNotCrashes() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/proc/cpuinfo": "processor : x\n: : :\nmodel name\n\nflags :\n",
                    "/proc/meminfo": "MemTotal: 99999999999999999999 kB\n",
                    "/sys/devices/system/cpu/online": "3-1\n",
                    "/sys/devices/system/cpu/present": "0-99999999999\n",
                    "/sys/class/drm/card0/device/vendor": "0x1002\n",
                    "/sys/class/drm/card0/device/mem_info_vram_total": "-5\n",
                    "/sys/class/kfd/kfd/topology/nodes/1/properties": "simd_count\ndrm_render_minor abc\n",
                    "/sys/bus/usb/devices/1-1/idVendor": "18d1",
                ], under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.memoryBytes == 0)
            #expect(inventory.cpu.threads == 1)  // the one "processor" line
            #expect(inventory.cpu.cores == 1)
            #expect(
                inventory.gpus == [
                    HostGPU(
                        vendor: "amd", model: "AMD GPU", memoryBytes: 0, index: 0, deviceIndex: 0, driver: "",
                        source: .sysfs, sysfsPath: "/sys/class/drm/card0")
                ])
            #expect(inventory.accelerators.isEmpty)
        }
    }
}
