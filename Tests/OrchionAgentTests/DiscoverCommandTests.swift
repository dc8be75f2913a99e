import Foundation
import OrchionAgent
import TestSupport
import Testing

/// `orchion agent discover`, the real binary, against fixture trees.
@Suite struct DiscoverCommandTests {
    @Test func jsonOfThePi() throws {
        let root = AgentFixtures.root("pi5-hailo").path
        let result = try runCommand(
            [Paths.orchion, "agent", "discover", "--root", root, "--no-nvml", "--label", "zone=garage", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["hostname"] as? String == "pi5-hailo")
        #expect(object["arch"] as? String == "aarch64")
        #expect(object["memory_bytes"] as? Int == 8_245_072 * 1024)
        #expect(object["raspberry_pi_model"] as? String == "Raspberry Pi 5 Model B Rev 1.0")
        #expect(object["labels"] as? [String: String] == ["zone": "garage"])
        let cpu = try #require(object["cpu"] as? [String: Any])
        #expect(cpu["model"] as? String == "Broadcom BCM2712 (ARM Cortex-A76)")
        #expect(cpu["threads"] as? Int == 4)
        let accelerators = try #require(object["accelerators"] as? [[String: Any]])
        #expect(accelerators.count == 1)
        #expect(accelerators.first?["model"] as? String == "Hailo-8")
        #expect(accelerators.first?["devices"] as? [String] == ["/dev/hailo0"])
        #expect((object["gpus"] as? [Any])?.isEmpty == true)
    }

    @Test func tableOfTheDesktopWithStubNVML() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let library = try AgentFixtures.stubNVML(in: directory)
            let root = AgentFixtures.root("desktop-nvidia").path
            let result = try runCommand([Paths.orchion, "agent", "discover", "--root", root, "--nvml", library])
            #expect(result.status == 0)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("hostname:  desk-4090"))
            #expect(lines.contains("cores:     8 (16 threads)"))
            #expect(lines.contains("memory:    62.5 GiB (67124744192 bytes)"))
            #expect(lines.contains { $0.hasPrefix("GPU  VENDOR") })
            #expect(
                lines.contains("0    nvidia  NVIDIA GeForce RTX 4090  24.0 GiB (25757220864 bytes)  550.54.14  nvml"))
            #expect(lines.contains { $0.hasPrefix("edgetpu  Coral USB Accelerator  1") })
            #expect(!lines.contains { $0.hasPrefix("note:") })
        }
    }

    @Test func badLabelIsRefused() throws {
        let result = try runCommand([Paths.orchion, "agent", "discover", "--no-nvml", "--label", "novalue"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--label expects KEY=VALUE, found 'novalue'"))
    }
}
