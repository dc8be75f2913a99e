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
        view.upsert(Node(id: "x86", cpuMillis: 8000, memoryBytes: 8 << 30))
        view.upsert(Node(id: "pi-big", arch: "aarch64", cpuMillis: 4000, memoryBytes: 8 << 30))
        view.upsert(Node(id: "pi-small", arch: "aarch64", cpuMillis: 2000, memoryBytes: 4 << 30))
        let jobs = [1500, 1500, 3000, 2000].enumerated().map {
            PendingJob(id: "job-\($0.offset)", requirements: JobRequirements(cpuMillis: UInt64($0.element)))
        }
        let result = GuardedScheduler(plugin).schedule(JobBatch(jobs), in: view)
        #expect(result.invalid.isEmpty)
        let byJob = Dictionary(uniqueKeysWithValues: result.assignments.map { ($0.jobID, $0.nodeID) })
        // Tightest ARM fit first; x86 only when no ARM node has room.
        #expect(byJob == ["job-0": "pi-small", "job-1": "pi-big", "job-2": "x86", "job-3": "pi-big"])
    }
}
