import Foundation
import OrchionAgent
import TestSupport
import Testing

/// NVML loaded at run time from a stub built with `cc`, and the
/// `nvidia-smi` fallback (a script in the fixture tree) when it is not.
@Suite struct NVIDIAFallbackTests {
    static let rtx4090 = HostGPU(
        vendor: "nvidia", model: "NVIDIA GeForce RTX 4090", memoryBytes: 25_757_220_864, index: 0, deviceIndex: 0,
        driver: "550.54.14", source: .nvidiaSMI)

    @Test func missingNVMLFallsBackToNvidiaSMI() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let missing = directory.appendingPathComponent("libnvidia-ml.so.1").path
            let inventory = HostDiscovery(root: AgentFixtures.root("desktop-nvidia"), nvmlLibrary: missing).discover()
            #expect(inventory.gpus == [Self.rtx4090])
            #expect(inventory.notes.count == 1)
            #expect(inventory.notes.first?.hasPrefix("NVML not loadable from \(missing): ") == true)
        }
    }

    @Test func nvmlInitFailureFallsBackToNvidiaSMI() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let library = try AgentFixtures.stubNVML(in: directory, defines: ["STUB_INIT_RESULT=9"])
            #expect(throws: NVMLError.failed(function: "nvmlInit_v2", code: 9, reason: "Driver Not Loaded")) {
                try NVML.load(library)
            }
            let inventory = HostDiscovery(root: AgentFixtures.root("desktop-nvidia"), nvmlLibrary: library).discover()
            #expect(inventory.gpus == [Self.rtx4090])
            #expect(inventory.notes == ["nvmlInit_v2 failed with 9: Driver Not Loaded"])
        }
    }

    @Test func nvidiaCardWithNeitherSourceIsNotedNotInvented() {
        let inventory = HostDiscovery(root: AgentFixtures.root("desktop-nvidia"), nvmlLibrary: nil, nvidiaSMI: nil)
            .discover()
        #expect(inventory.gpus.isEmpty)
        #expect(
            inventory.notes == [
                "an NVIDIA GPU is at /sys/class/drm/card0 but neither NVML nor nvidia-smi described it"
            ])
    }

    @Test func nvidiaDeviceNodeWithoutAnySourceIsNoted() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(["/dev/nvidia0": "", "/dev/nvidiactl": ""], under: directory)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.gpus.isEmpty)
            #expect(
                inventory.notes.last == "an NVIDIA GPU is at /dev/nvidia0 but neither NVML nor nvidia-smi described it")
        }
    }

    @Test(.enabled(if: dlopen(NVML.defaultLibrary, RTLD_NOW | RTLD_NOLOAD) == nil && !nvmlInstalled()))
    func defaultNVMLMissingIsNotNoted() {
        let inventory = HostDiscovery(root: AgentFixtures.root("x86-server")).discover()
        #expect(inventory.notes.isEmpty)
    }

    @Test func failingNvidiaSMIIsNoted() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                ["/usr/bin/nvidia-smi": "#!/bin/sh\necho 'NVIDIA-SMI has failed' \nexit 9\n"], under: directory)
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o755],
                ofItemAtPath: directory.appendingPathComponent("usr/bin/nvidia-smi").path)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.gpus.isEmpty)
            #expect(inventory.notes.contains("\(directory.path)/usr/bin/nvidia-smi failed: exit status 9"))
        }
    }

    @Test func hangingNvidiaSMIIsKilledAtItsTimeout() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(["/usr/bin/nvidia-smi": "#!/bin/sh\nexec sleep 60\n"], under: directory)
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o755],
                ofItemAtPath: directory.appendingPathComponent("usr/bin/nvidia-smi").path)
            let started = Date()
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil, toolTimeoutMillis: 300)
                .discover()
            #expect(Date().timeIntervalSince(started) < 10)
            #expect(
                inventory.notes.contains(
                    "\(directory.path)/usr/bin/nvidia-smi gave no answer within 300 ms and was killed"))
        }
    }

    @Test func malformedNvidiaSMIOutputIsRefused() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            try AgentFixtures.write(
                ["/usr/bin/nvidia-smi": "#!/bin/sh\necho '0, NVIDIA GeForce RTX 4090, lots, 550.54.14'\n"],
                under: directory)
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o755],
                ofItemAtPath: directory.appendingPathComponent("usr/bin/nvidia-smi").path)
            let inventory = HostDiscovery(root: HostRoot(directory.path), nvmlLibrary: nil).discover()
            #expect(inventory.gpus.isEmpty)
            #expect(
                inventory.notes.contains(
                    "nvidia-smi output: expected index, name, MiB, driver, found '0, NVIDIA GeForce RTX 4090, lots, 550.54.14'"
                ))
        }
    }

    @Test func releasingNVMLShutsItDown() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let library = try AgentFixtures.stubNVML(in: directory)
            let image = try #require(dlopen(library, RTLD_NOW | RTLD_LOCAL))
            let symbol = try #require(dlsym(image, "stub_nvml_open_count"))
            let openCount = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
            do {
                let nvml = try NVML.load(library)
                #expect(openCount() == 1)
                #expect(try nvml.devices().map(\.name) == ["NVIDIA GeForce RTX 4090"])
            }
            #expect(openCount() == 0)
        }
    }

    @Test func libraryWithoutNVMLSymbolsIsRefused() throws {
        try AgentFixtures.withTemporaryDirectory { directory in
            let source = directory.appendingPathComponent("empty.c")
            try Data("int not_nvml(void) { return 0; }\n".utf8).write(to: source)
            let library = directory.appendingPathComponent("libempty.so").path
            let result = try runCommand(["cc", "-shared", "-fPIC", "-o", library, source.path], timeout: 60)
            try #require(result.status == 0)
            #expect(throws: NVMLError.missingSymbol(library: library, symbol: "nvmlInit_v2")) {
                try NVML.load(library)
            }
        }
    }
}

/// Whether this machine has a real NVML (then discovery of a fixture with the
/// default library would see its GPUs).
func nvmlInstalled() -> Bool {
    guard let image = dlopen(NVML.defaultLibrary, RTLD_LAZY | RTLD_LOCAL) else { return false }
    dlclose(image)
    return true
}
