import Foundation
import OrchionAgent
import Testing

/// Devices none of the four fixture machines has: an Intel Arc card, PCIe
/// and unprogrammed USB Corals, an accel node without its sysfs class.
@Suite struct DeviceTreeVariantsTests {
    @Test func intelArcNamedByPCIIDs() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/sys/class/drm/card0/device/vendor": "0x8086\n",
                    "/sys/class/drm/card0/device/device": "0x56a0\n",
                    "/sys/class/drm/card1/device/vendor": "0x8086\n",
                    "/sys/class/drm/card1/device/device": "0x9999\n",
                    "/usr/share/hwdata/pci.ids":
                        "8086  Intel Corporation\n\t5690  DG2 [Arc A770M]\n\t56a0  DG2 [Arc A770]\n"
                        + "\t\t1043 8867  ASUS Arc A770\n8088  Beijing Wangxun Technology\n\t0101  WX1860A2\n",
                ], under: directory)
            try FileManager.default.createSymbolicLink(
                atPath: directory.appendingPathComponent("sys/class/drm/card0/device/driver").path,
                withDestinationPath: "../../../../bus/pci/drivers/i915")
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(
                inventory.gpus == [
                    HostGPU(
                        vendor: "intel", model: "Intel Arc A770", memoryBytes: 0, index: 0, deviceIndex: 0,
                        driver: "i915", source: .sysfs, sysfsPath: "/sys/class/drm/card0"),
                    HostGPU(
                        vendor: "intel", model: "Intel GPU 0x9999", memoryBytes: 0, index: 1, deviceIndex: 1,
                        driver: "", source: .sysfs, sysfsPath: "/sys/class/drm/card1"),
                ])
        }
    }

    @Test func pcieAndUnprogrammedUSBCorals() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                [
                    "/dev/apex_0": "", "/dev/apex_1": "", "/dev/apex": "",
                    "/sys/bus/usb/devices/1-1.2/idVendor": "1a6e\n",
                    "/sys/bus/usb/devices/1-1.2/idProduct": "089a\n",
                    "/sys/bus/usb/devices/1-1.3/idVendor": "1A6E\n",
                    "/sys/bus/usb/devices/1-1.3/idProduct": "0899\n",
                ], under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(
                inventory.accelerators == [
                    HostAccelerator(
                        kind: "edgetpu", model: "Coral Edge TPU (PCIe)", count: 2,
                        devices: ["/dev/apex_0", "/dev/apex_1"]),
                    HostAccelerator(
                        kind: "edgetpu", model: "Coral USB Accelerator", count: 1,
                        devices: ["/sys/bus/usb/devices/1-1.2"]),
                ])
        }
    }

    @Test func accelNodesWithoutSysfsAndHailoWithoutPCIFacts() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                ["/dev/accel/accel0": "", "/dev/accel/accel1": "", "/dev/hailo0": "", "/dev/hailo_chardev": ""],
                under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(
                inventory.accelerators == [
                    HostAccelerator(kind: "npu", model: "Hailo", count: 1, devices: ["/dev/hailo0"]),
                    HostAccelerator(
                        kind: "npu", model: "unknown", count: 2, devices: ["/dev/accel/accel0", "/dev/accel/accel1"]),
                ])
        }
    }
}
