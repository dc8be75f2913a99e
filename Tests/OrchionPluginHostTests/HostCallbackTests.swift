import Foundation
import OrchionCore
import OrchionPluginHost
import TestSupport
import Testing

/// Host callbacks are libffi closures bound to one instance each.
@Suite struct HostCallbackTests {
    @Test func everyCallbackIsAttributedToTheInstanceThatMadeIt() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = try PluginLibrary.open(try CPlugins.fixture("fixture.so", in: dir))
        var heard: [(String, PluginEvent)] = []
        let sink: PluginEventSink = { instance, event in heard.append((instance, event)) }
        let alpha = try SchedulerPlugin(library, instance: "alpha", config: ["tag": "A"], sink: sink)
        let beta = try SchedulerPlugin(library, instance: "beta", config: ["tag": "B"], sink: sink)

        let view = ClusterView()
        view.upsert(Node(id: "n1", cpuMillis: 4000, memoryBytes: 1 << 30))
        let batch = JobBatch([PendingJob(id: "j1", requirements: JobRequirements(cpuMillis: 100))])
        _ = try beta.place(batch, in: view)
        _ = try alpha.place(batch, in: view)
        _ = try beta.place(batch, in: view)

        let expected: [(String, PluginEvent)] = [
            ("alpha", .log(.info, "init tag=A")),
            ("beta", .log(.info, "init tag=B")),
            ("beta", .log(.info, "place tag=B")), ("beta", .metric("calls", 1)),
            ("alpha", .log(.info, "place tag=A")), ("alpha", .metric("calls", 1)),
            ("beta", .log(.info, "place tag=B")), ("beta", .metric("calls", 2)),
        ]
        #expect(heard.map(\.0) == expected.map(\.0))
        #expect(heard.map(\.1) == expected.map(\.1))
    }

    @Test func builtinPluginsReportMetricsThroughTheirTable() throws {
        var heard: [(String, PluginEvent)] = []
        let plugin = try SchedulerPlugin(
            try PluginLibrary.open(Paths.builtin("spread")), instance: "spread-1", sink: { heard.append(($0, $1)) })
        let view = ClusterView()
        view.upsert(Node(id: "n1", cpuMillis: 1000, memoryBytes: 1 << 30))
        _ = try plugin.place(
            JobBatch([
                PendingJob(id: "fits", requirements: JobRequirements(cpuMillis: 500)),
                PendingJob(id: "too-big", requirements: JobRequirements(cpuMillis: 5000)),
            ]), in: view)
        #expect(heard.map(\.0) == ["spread-1", "spread-1"])
        #expect(heard.map(\.1) == [.metric("placed", 1), .metric("unschedulable", 1)])
    }

    @Test func badConfigIsReportedByInit() throws {
        let library = try PluginLibrary.open(Paths.builtin("gpu-affinity"))
        #expect(
            throws: PluginError.initFailed(
                file: library.info.file, name: "gpu-affinity", status: 1,
                message: "config cpu_jobs_on_gpu_nodes: expected fallback or never, found sometimes")
        ) {
            _ = try SchedulerPlugin(library, config: ["cpu_jobs_on_gpu_nodes": "sometimes"])
        }
    }
}
