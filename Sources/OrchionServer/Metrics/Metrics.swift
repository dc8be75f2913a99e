import Synchronization

/// A registry of metrics, rendered in the Prometheus text exposition format
/// 0.0.4 for `GET /metrics`.
///
/// Threading: any thread. Registering and rendering take a mutex; updating
/// a metric takes none (relaxed atomics, see `Counter`, `Gauge`,
/// `Histogram`), so the loop thread, the store's writer thread and plugin
/// workers may all update without hopping threads. Rendering is O(series)
/// and allocates only the text; the server calls it on the loop thread.
public final class Metrics: Sendable {
    /// The content type of `render()`'s text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let state = Mutex(State())

    private struct State {
        var families: [Registered] = []
        var names: Set<String> = []
        var collectors: [@Sendable () -> Void] = []
    }

    /// One registered family, as the renderer needs it.
    private struct Registered: Sendable {
        let name: String
        let help: String
        let kind: MetricKind
        let samples: @Sendable (_ out: inout String) -> Void
    }

    public init() {}

    // MARK: Registering

    /// Registers a counter without labels.
    public func counter(_ name: String, help: String) throws(MetricsError) -> Counter {
        try counter(name, help: help, labels: []).child([])
    }

    /// Registers a counter with labels.
    public func counter(_ name: String, help: String, labels: [String]) throws(MetricsError) -> MetricFamily<Counter> {
        try validate(name, labels: labels, kind: .counter)
        let family = MetricFamily(name: name, labelNames: labels, maxChildren: 10_000) { Counter() }
        try register(name, help: help, kind: .counter) { out in
            for (values, counter) in family.sortedChildren() {
                Self.sample(&out, name, labels, values, Self.format(counter.value))
            }
        }
        return family
    }

    /// Registers a gauge without labels.
    public func gauge(_ name: String, help: String) throws(MetricsError) -> Gauge {
        try gauge(name, help: help, labels: []).child([])
    }

    /// Registers a gauge with labels.
    public func gauge(_ name: String, help: String, labels: [String]) throws(MetricsError) -> MetricFamily<Gauge> {
        try validate(name, labels: labels, kind: .gauge)
        let family = MetricFamily(name: name, labelNames: labels, maxChildren: 10_000) { Gauge() }
        try register(name, help: help, kind: .gauge) { out in
            for (values, gauge) in family.sortedChildren() {
                Self.sample(&out, name, labels, values, Self.format(gauge.value))
            }
        }
        return family
    }

    /// Registers a counter whose total is read at each render (e.g. the
    /// process's CPU seconds, kept by the kernel); nil leaves the sample out.
    public func counter(_ name: String, help: String, read: @escaping @Sendable () -> Double?) throws(MetricsError) {
        try validate(name, labels: [], kind: .counter)
        try register(name, help: help, kind: .counter) { out in
            if let value = read() { Self.sample(&out, name, [], [], Self.format(value)) }
        }
    }

    /// Registers a gauge whose value is read at each render; nil leaves the
    /// sample out.
    public func gauge(_ name: String, help: String, read: @escaping @Sendable () -> Double?) throws(MetricsError) {
        try validate(name, labels: [], kind: .gauge)
        try register(name, help: help, kind: .gauge) { out in
            if let value = read() { Self.sample(&out, name, [], [], Self.format(value)) }
        }
    }

    /// Registers a histogram without labels; `buckets` are the upper bounds
    /// (finite, strictly ascending; `+Inf` is added).
    public func histogram(
        _ name: String, help: String, buckets: [Double] = Histogram.secondsBuckets
    ) throws(MetricsError) -> Histogram {
        try histogram(name, help: help, labels: [], buckets: buckets).child([])
    }

    /// Registers a histogram with labels.
    public func histogram(
        _ name: String, help: String, labels: [String], buckets: [Double] = Histogram.secondsBuckets
    ) throws(MetricsError) -> MetricFamily<Histogram> {
        try validate(name, labels: labels, kind: .histogram)
        guard !buckets.isEmpty, buckets.allSatisfy(\.isFinite), zip(buckets, buckets.dropFirst()).allSatisfy(<)
        else { throw .invalidBuckets(name, buckets) }
        let family = MetricFamily(name: name, labelNames: labels, maxChildren: 1_000) { Histogram(bounds: buckets) }
        let bucketLabels = labels + ["le"]
        let bounds = buckets.map(Self.format) + ["+Inf"]
        try register(name, help: help, kind: .histogram) { out in
            for (values, histogram) in family.sortedChildren() {
                let (cumulative, sum) = histogram.snapshot
                for (bound, count) in zip(bounds, cumulative) {
                    Self.sample(&out, name + "_bucket", bucketLabels, values + [bound], String(count))
                }
                Self.sample(&out, name + "_sum", labels, values, Self.format(sum))
                Self.sample(&out, name + "_count", labels, values, String(cumulative.last ?? 0))
            }
        }
        return family
    }

    /// Adds a function run before each render, to refresh gauges whose
    /// value is read rather than pushed (process memory, queue lengths).
    /// It runs on the rendering thread, with no lock held.
    public func collect(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.collectors.append(body) }
    }

    // MARK: Rendering

    /// Every family in registration order: `# HELP`, `# TYPE`, then its
    /// samples (children sorted by label values). A labelled family with
    /// no child yet renders its HELP and TYPE only.
    public func render() -> String {
        let (families, collectors) = state.withLock { ($0.families, $0.collectors) }
        for collector in collectors { collector() }
        var out = ""
        out.reserveCapacity(families.count * 256)
        for family in families {
            out += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            family.samples(&out)
        }
        return out
    }

    /// `render()` as UTF-8 bytes, for an HTTP body.
    public func renderBytes() -> [UInt8] { Array(render().utf8) }

    /// Adds a family, refusing a name (or, for a histogram, a rendered
    /// `_bucket`/`_sum`/`_count` name) another family already uses.
    private func register(
        _ name: String, help: String, kind: MetricKind, samples: @escaping @Sendable (inout String) -> Void
    ) throws(MetricsError) {
        let rendered = kind == .histogram ? [name, name + "_bucket", name + "_sum", name + "_count"] : [name]
        let added = state.withLock { state -> Bool in
            guard !rendered.contains(where: state.names.contains) else { return false }
            state.names.formUnion(rendered)
            state.families.append(Registered(name: name, help: help, kind: kind, samples: samples))
            return true
        }
        if !added { throw .duplicate(name) }
    }

    private func validate(_ name: String, labels: [String], kind: MetricKind) throws(MetricsError) {
        guard Self.isMetricName(name) else { throw .invalidName(name) }
        var seen: Set<String> = []
        for label in labels {
            guard Self.isLabelName(label), !label.hasPrefix("__"), seen.insert(label).inserted,
                !(kind == .histogram && label == "le")
            else { throw .invalidLabelName(metric: name, label: label) }
        }
    }

    // MARK: Text format

    /// One sample line: `name{a="x",b="y"} value`.
    static func sample(_ out: inout String, _ name: String, _ labels: [String], _ values: [String], _ value: String) {
        out += name
        if !labels.isEmpty {
            out += "{"
            for (index, (label, labelValue)) in zip(labels, values).enumerated() {
                if index > 0 { out += "," }
                out += label
                out += "=\""
                out += escapeLabelValue(labelValue)
                out += "\""
            }
            out += "}"
        }
        out += " "
        out += value
        out += "\n"
    }

    /// A label value as the format wants it: `\` → `\\`, `"` → `\"`, newline → `\n`.
    static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// HELP text as the format wants it: `\` → `\\`, newline → `\n`.
    static func escapeHelp(_ help: String) -> String {
        guard help.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A }) else { return help }
        var out = ""
        for scalar in help.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`,
    /// else the shortest text that reads back as the same double.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func format(_ value: UInt64) -> String { String(value) }

    private static func isMetricName(_ name: String) -> Bool {
        guard let first = name.utf8.first, isLetter(first) || first == UInt8(ascii: "_") || first == UInt8(ascii: ":")
        else { return false }
        return name.utf8.allSatisfy {
            isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":")
        }
    }

    private static func isLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, isLetter(first) || first == UInt8(ascii: "_") else { return false }
        return name.utf8.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}
