import Foundation
import Glibc
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
        try view.upsert(Node(id: "n1", cpuMillis: 4000, memoryBytes: 1 << 30))
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

    @Test func callbacksFromAPluginThreadAreRefusedAndReportedOnTheCallingThread() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Mode 7: place starts a thread that calls log, metric, config and
        // clock_ns, joins it, then logs what the thread saw.
        let library = try PluginLibrary.open(try CPlugins.fixture("mode7.so", in: dir, defines: ["FIXTURE_MODE=7"]))
        let caller = pthread_self()
        var heard: [PluginEvent] = []
        var foreign = 0
        let plugin = try SchedulerPlugin(
            library, instance: "rogue", config: ["tag": "T"],
            sink: { _, event in
                if pthread_equal(pthread_self(), caller) == 0 { foreign += 1 }
                heard.append(event)
            })
        let view = ClusterView()
        try view.upsert(Node(id: "n1", cpuMillis: 4000, memoryBytes: 1 << 30))
        let answers = try plugin.place(
            JobBatch([PendingJob(id: "j1", requirements: JobRequirements(cpuMillis: 100))]), in: view)
        #expect(answers == [.node(0, gpuIndices: [])], "the call itself still succeeds")
        #expect(foreign == 0, "the sink only ever ran on the thread that called the plugin")
        #expect(
            heard == [
                .log(.info, "init tag=T"),
                .log(.info, "place tag=T"), .metric("calls", 1),
                // config and clock_ns work from any thread ...
                .log(.info, "thread saw tag=T clock=yes"),
                // ... log and metric from the plugin's thread do not.
                .log(
                    .error,
                    "refused 2 host callback(s) (log or metric) made outside a call or from a thread other than "
                        + "the one the host called the plugin on"),
            ])
        #expect(plugin.refusedCallbacks == 2)
    }

    @Test func callbacksAfterDestroyAreHarmless() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("late.so", in: dir)
        let library = try PluginLibrary.open(file)
        var heard: [PluginEvent] = []
        do {
            _ = try SchedulerPlugin(library, config: ["tag": "gone"], sink: { _, event in heard.append(event) })
        }
        #expect(heard == [.log(.info, "init tag=gone")])
        // The image is still mapped (the host never unloads): find the fixture's own helper.
        let handle = library.image
        let symbol = try #require(dlsym(handle, "fixture_call_host_after_destroy"))
        let callLate = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
        #expect(callLate() == 1, "config returned NULL and clock_ns still worked; log and metric did not crash")
        #expect(heard == [.log(.info, "init tag=gone")], "nothing reached the sink after destroy")
    }

    @Test func builtinPluginsReportMetricsThroughTheirTable() throws {
        var heard: [(String, PluginEvent)] = []
        let plugin = try SchedulerPlugin(
            try PluginLibrary.open(Paths.builtin("spread")), instance: "spread-1", sink: { heard.append(($0, $1)) })
        let view = ClusterView()
        try view.upsert(Node(id: "n1", cpuMillis: 1000, memoryBytes: 1 << 30))
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
