import Foundation
import OrchionCore
import OrchionPluginHost
import TestSupport
import Testing

/// The third-party example: built with `cc` and the header alone, dropped
/// into a plugins directory, listed, and placing jobs.
@Suite struct ExamplePluginTests {
    @Test func buildsWithMakeAndPrefersARMNodes() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let make = try runCommand(
            ["make", "-C", Paths.root.appendingPathComponent("sdk/c/examples").path, "OUT=\(dir.path)"])
        #expect(make.status == 0, "\(make.stderr)")

        let registry = PluginRegistry()
        registry.scan([PluginDirectory(path: dir.path, source: .flag)])
        let entry = try #require(registry.entries.first)
        #expect(entry.info?.name == "prefer-arm" && entry.info?.kind == .scheduler && entry.state == .loaded)

        var logs: [String] = []
        let plugin = try SchedulerPlugin(
            try #require(registry.library(named: "prefer-arm")),
            sink: { _, event in
                if case .log(_, let line) = event { logs.append(line) }
            })
        #expect(logs == ["preferring aarch64 nodes"])
        let view = ClusterView()
        try view.upsert(Node(id: "x86", cpuMillis: 8000, memoryBytes: 8 << 30))
        try view.upsert(Node(id: "pi-big", arch: "aarch64", cpuMillis: 4000, memoryBytes: 8 << 30))
        try view.upsert(Node(id: "pi-small", arch: "aarch64", cpuMillis: 2000, memoryBytes: 4 << 30))
        let jobs = [1500, 1500, 3000, 2000].enumerated().map {
            PendingJob(id: "job-\($0.offset)", requirements: JobRequirements(cpuMillis: UInt64($0.element)))
        }
        let result = GuardedScheduler(plugin).schedule(JobBatch(jobs), in: view)
        #expect(result.invalid.isEmpty)
        let byJob = Dictionary(uniqueKeysWithValues: result.assignments.map { ($0.jobID, $0.nodeID) })
        // Tightest ARM fit first; x86 only when no ARM node has room.
        #expect(byJob == ["job-0": "pi-small", "job-1": "pi-big", "job-2": "x86", "job-3": "pi-big"])
    }

    @Test func theCExamplePassesPluginCheck() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let make = try runCommand(["make", "-C", Self.examples, "OUT=\(dir.path)"])
        #expect(make.status == 0, "\(make.stderr)")
        let check = try runCommand(
            [Paths.orchion, "plugin", "check", dir.appendingPathComponent("orchion-prefer-arm.so").path])
        #expect(check.status == 0 && check.stdout.hasSuffix("check passed\n"), "\(check.stdout)\(check.stderr)")
    }

    private static let examples = Paths.root.appendingPathComponent("sdk/c/examples").path

    /// Whether a C++ compiler is on PATH.
    private static var hasCxx: Bool { (try? runCommand(["which", "c++"]).status) == 0 }

    @Test(.enabled(if: hasCxx, "no c++ on PATH, so the C++ declaration cannot be built here"))
    func aCppPluginDeclaredAsTheHeaderSaysLoadsAndPlaces() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("cpp.so").path
        let build = try runCommand([
            "c++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
            Paths.root.appendingPathComponent("sdk/c/include").path, "-o", output,
            Paths.root.appendingPathComponent("Tests/Fixtures/cpp_plugin.cpp").path,
        ])
        #expect(build.status == 0, "\(build.stderr)")
        let plugin = try SchedulerPlugin(try PluginLibrary.open(output))
        #expect(plugin.info.name == "cpp-decline")
        let view = ClusterView()
        try view.upsert(Node(id: "n", cpuMillis: 1000, memoryBytes: 1 << 30))
        let answers = try plugin.place(
            JobBatch([PendingJob(id: "j", requirements: JobRequirements(cpuMillis: 1))]), in: view)
        #expect(answers == [.unschedulable("declined by C++")])
    }

    /// Whether `rustc` is on PATH.
    private static var hasRustc: Bool { (try? runCommand(["which", "rustc"]).status) == 0 }

    @Test(.enabled(if: hasRustc, "rustc is not on PATH, so the Rust example cannot be built here"))
    func theRustExampleBuildsPassesPluginCheckAndNamesGPUs() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let make = try runCommand(["make", "-C", Self.examples, "rust", "OUT=\(dir.path)"], timeout: 300)
        #expect(make.status == 0, "\(make.stderr)")
        let file = dir.appendingPathComponent("liborchion-rust-first-fit.so").path
        let check = try runCommand([Paths.orchion, "plugin", "check", file])
        #expect(check.status == 0 && check.stdout.hasSuffix("check passed\n"), "\(check.stdout)\(check.stderr)")

        var logs: [String] = []
        let plugin = try SchedulerPlugin(
            try PluginLibrary.open(file),
            sink: { _, event in
                if case .log(_, let line) = event { logs.append(line) }
            })
        #expect(logs == ["first fit, in Rust"])
        let gib: UInt64 = 1 << 30
        let view = ClusterView()
        try view.upsert(Node(id: "busy", state: .draining, cpuMillis: 64000, memoryBytes: 64 * gib))
        try view.upsert(
            Node(
                id: "gpu", cpuMillis: 8000, memoryBytes: 64 * gib, labels: ["zone": "a"],
                gpus: [
                    GPU(vendor: "nvidia", model: "NVIDIA H100", memoryBytes: 80 * gib, index: 3, allocated: true),
                    GPU(vendor: "nvidia", model: "NVIDIA H100", memoryBytes: 80 * gib, index: 1),
                    GPU(vendor: "nvidia", model: "NVIDIA H100", memoryBytes: 80 * gib, index: 0),
                ]))
        let jobs = [
            PendingJob(
                id: "two-h100", requirements: JobRequirements(cpuMillis: 1000, gpu: GPURequest(count: 2, model: "h100"))
            ),
            PendingJob(id: "one-more", requirements: JobRequirements(cpuMillis: 1000, gpu: GPURequest(count: 1))),
            PendingJob(id: "zone-a", requirements: JobRequirements(cpuMillis: 1000, constraints: ["zone": "a"])),
            PendingJob(id: "zone-b", requirements: JobRequirements(cpuMillis: 1000, constraints: ["zone": "b"])),
        ]
        let batch = JobBatch(jobs)
        let answers = try plugin.place(batch, in: view)
        #expect(answers[0] == .node(1, gpuIndices: [1, 0]))
        #expect(answers[1] == .unschedulable("no ready node has 1000 CPU millis, 0 bytes and 1 matching GPUs free"))
        #expect(answers[2] == .node(1, gpuIndices: []))
        guard case .unschedulable = answers[3] else {
            Issue.record("zone-b placed: \(answers[3])")
            return
        }
        let result = GuardedScheduler(plugin).schedule(batch, in: view)
        #expect(result.invalid.isEmpty)
        #expect(result.assignments.map(\.gpuIndices) == [[1, 0], []])
    }
}
