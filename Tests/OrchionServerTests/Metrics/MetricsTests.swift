import Foundation
import OrchionServer
import TestSupport
import Testing

@Suite struct MetricsTests {
    @Test func aCounterRendersHelpTypeAndItsCount() throws {
        let metrics = Metrics()
        let counter = try metrics.counter("orchion_heartbeats_total", help: "Agent heartbeats received.")
        counter.increment()
        counter.add(41)
        #expect(
            metrics.render() == """
                # HELP orchion_heartbeats_total Agent heartbeats received.
                # TYPE orchion_heartbeats_total counter
                orchion_heartbeats_total 42

                """)
    }

    @Test func aLabelledGaugeRendersOneSortedSeriesPerLabelSet() throws {
        let metrics = Metrics()
        let nodes = try metrics.gauge("orchion_nodes", help: "Nodes by health state.", labels: ["state"])
        try nodes.labels("ready").set(3)
        try nodes.labels("down").set(1)
        try nodes.labels("suspect").set(0.5)
        try nodes.labels("ready").decrement()
        #expect(
            metrics.render() == """
                # HELP orchion_nodes Nodes by health state.
                # TYPE orchion_nodes gauge
                orchion_nodes{state="down"} 1
                orchion_nodes{state="ready"} 2
                orchion_nodes{state="suspect"} 0.5

                """)
    }

    @Test func aHistogramRendersCumulativeBucketsInfSumAndCount() throws {
        let metrics = Metrics()
        let histogram = try metrics.histogram(
            "orchion_store_commit_seconds", help: "Commit time.", buckets: [0.001, 0.01, 0.1])
        for value in [0.0005, 0.001, 0.005, 0.05, 2.0] { histogram.observe(value) }
        histogram.observe(.nan)
        #expect(
            metrics.render() == """
                # HELP orchion_store_commit_seconds Commit time.
                # TYPE orchion_store_commit_seconds histogram
                orchion_store_commit_seconds_bucket{le="0.001"} 2
                orchion_store_commit_seconds_bucket{le="0.01"} 3
                orchion_store_commit_seconds_bucket{le="0.1"} 4
                orchion_store_commit_seconds_bucket{le="+Inf"} 5
                orchion_store_commit_seconds_sum 2.0565
                orchion_store_commit_seconds_count 5

                """)
    }

    @Test func aLabelledHistogramPutsLeAfterItsLabelsAndDurationsCountInSeconds() throws {
        let metrics = Metrics()
        let calls = try metrics.histogram(
            "orchion_plugin_call_seconds", help: "Plugin call time.", labels: ["plugin"], buckets: [0.0001, 1])
        try calls.labels("spread").observe(.milliseconds(250))
        #expect(
            metrics.render() == """
                # HELP orchion_plugin_call_seconds Plugin call time.
                # TYPE orchion_plugin_call_seconds histogram
                orchion_plugin_call_seconds_bucket{plugin="spread",le="0.0001"} 0
                orchion_plugin_call_seconds_bucket{plugin="spread",le="1"} 1
                orchion_plugin_call_seconds_bucket{plugin="spread",le="+Inf"} 1
                orchion_plugin_call_seconds_sum{plugin="spread"} 0.25
                orchion_plugin_call_seconds_count{plugin="spread"} 1

                """)
    }

    @Test func labelValuesEscapeBackslashQuoteAndNewlineAndHelpEscapesBackslashAndNewline() throws {
        let metrics = Metrics()
        let fallbacks = try metrics.counter(
            "orchion_scheduling_fallbacks_total", help: "Fallbacks\nfrom a \\ strategy \"x\".", labels: ["strategy"])
        try fallbacks.labels("a\\b\"c\nd").increment()
        #expect(
            metrics.render() == """
                # HELP orchion_scheduling_fallbacks_total Fallbacks\\nfrom a \\\\ strategy "x".
                # TYPE orchion_scheduling_fallbacks_total counter
                orchion_scheduling_fallbacks_total{strategy="a\\\\b\\"c\\nd"} 1

                """)
    }

    @Test func specialValuesRenderAsPrometheusSpellsThem() throws {
        let metrics = Metrics()
        let gauge = try metrics.gauge("g", help: "g", labels: ["k"])
        try gauge.labels("inf").set(Double.infinity)
        try gauge.labels("minf").set(-Double.infinity)
        try gauge.labels("nan").set(Double.nan)
        try gauge.labels("small").set(1e-05)
        try gauge.labels("zero").set(-0.0)
        #expect(
            metrics.render() == """
                # HELP g g
                # TYPE g gauge
                g{k="inf"} +Inf
                g{k="minf"} -Inf
                g{k="nan"} NaN
                g{k="small"} 1e-05
                g{k="zero"} 0

                """)
    }

    @Test func registrationRefusesBadNamesDuplicatesLeAndBadBuckets() throws {
        let metrics = Metrics()
        _ = try metrics.histogram("h", help: "h")
        #expect(throws: MetricsError.duplicate("h_count")) { try metrics.counter("h_count", help: "x") }
        #expect(throws: MetricsError.duplicate("h")) { try metrics.gauge("h", help: "x") }
        #expect(throws: MetricsError.invalidName("1abc")) { try metrics.counter("1abc", help: "x") }
        #expect(throws: MetricsError.invalidName("a-b")) { try metrics.counter("a-b", help: "x") }
        #expect(throws: MetricsError.invalidLabelName(metric: "x", label: "le")) {
            try metrics.histogram("x", help: "x", labels: ["le"])
        }
        #expect(throws: MetricsError.invalidLabelName(metric: "y", label: "__k")) {
            try metrics.gauge("y", help: "x", labels: ["__k"])
        }
        #expect(throws: MetricsError.invalidBuckets("z", [1, 1])) {
            try metrics.histogram("z", help: "x", buckets: [1, 1])
        }
        let family = try metrics.gauge("w", help: "x", labels: ["a", "b"])
        #expect(throws: MetricsError.wrongLabelCount("w", expected: 2, found: 1)) { try family.labels("only") }
    }

    @Test func newLabelSetsPastTheCapShareOneOverflowSeries() throws {
        let metrics = Metrics()
        let calls = try metrics.histogram("calls", help: "x", labels: ["plugin"], buckets: [1])
        for index in 0..<calls.maxChildren { try calls.labels("p\(index)").observe(0.5) }
        try calls.labels("one-more").observe(0.5)
        try calls.labels("and-another").observe(0.5)
        #expect(metrics.render().contains("calls_count{plugin=\"_overflow\"} 2\n"))
        #expect(!metrics.render().contains("one-more"))
    }

    @Test func countersAndHistogramsUpdatedFromManyThreadsLoseNothing() async throws {
        let metrics = Metrics()
        let counter = try metrics.counter("c_total", help: "x")
        let histogram = try metrics.histogram("h", help: "x", buckets: [0.5])
        let gauge = try metrics.gauge("g", help: "x")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<10_000 {
                        counter.increment()
                        histogram.observe(1)
                        gauge.add(1)
                    }
                }
            }
        }
        #expect(counter.value == 80_000)
        #expect(histogram.snapshot.cumulative == [0, 80_000])
        #expect(histogram.snapshot.sum == 80_000)
        #expect(gauge.value == 80_000)
    }

    /// Whether `promtool` (Debian's `prometheus` package) is on PATH.
    static var hasPromtool: Bool { (try? runCommand(["which", "promtool"]).status) == 0 }

    @Test(.enabled(if: hasPromtool, "promtool is not on PATH (install Debian's prometheus package: .ci/setup)"))
    func theServerMetricsPassPromtoolsCheck() throws {
        let server = try ServerMetrics()
        server.nodes(.ready).set(3)
        server.jobs(.running).set(2)
        server.pluginCallSeconds("bin-packing").observe(0.0003)
        server.schedulingFallbacks("spread").increment()
        server.heartbeats.add(10)
        server.storeCommitSeconds.observe(0.002)
        server.storeCommitBatchSize.observe(17)
        server.logBytes(.stderr).add(5)
        let text = server.registry.render()
        let check = try promtoolCheck(text)
        #expect(check.status == 0, "promtool: \(check.stdout)\(check.stderr)\n\(text)")
        for name in [
            "orchion_nodes{state=\"ready\"} 3", "orchion_jobs{state=\"running\"} 2", "orchion_queue_depth 0",
            "orchion_heartbeats_total 10", "orchion_scheduling_batch_seconds_count 0",
            "orchion_plugin_call_seconds_count{plugin=\"bin-packing\"} 1",
            "orchion_scheduling_fallbacks_total{strategy=\"spread\"} 1", "orchion_store_commit_seconds_count 1",
            "orchion_store_commit_batch_size_bucket{le=\"32\"} 1", "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
        ] {
            #expect(text.contains(name), "missing \(name)")
        }
    }
}

/// Runs `promtool check metrics` on `text` (its standard input, from a file).
func promtoolCheck(_ text: String) throws -> CommandResult {
    let dir = try Paths.temporaryDirectory("orchion-metrics")
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("metrics.txt")
    try Data(text.utf8).write(to: file)
    return try runCommand(["sh", "-c", "promtool check metrics < \"$1\"", "sh", file.path], timeout: 30)
}
