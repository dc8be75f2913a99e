import Synchronization

/// The kinds of metric the registry renders.
public enum MetricKind: String, Sendable, Hashable {
    case counter, gauge, histogram
}

/// A metric with labels: one child (`Counter`, `Gauge` or `Histogram`) per
/// set of label values, created on first use and kept.
///
/// Threading: any thread. Looking a child up takes a mutex (uncontended, a
/// few tens of nanoseconds) and hashes the values: on a hot path, look the
/// child up once and keep it. Updating a child takes no lock.
///
/// Label values often come from input (a plugin's name): at most
/// `maxChildren` distinct sets are kept; later new sets all share one child
/// whose every value is `_overflow`, so a flood of names cannot grow the
/// registry (or the scrape) without bound.
public final class MetricFamily<Child: Sendable>: Sendable {
    /// The metric's name.
    public let name: String
    /// The label names, in order.
    public let labelNames: [String]
    /// The most distinct label sets kept.
    public let maxChildren: Int
    private let make: @Sendable () -> Child
    private let children = Mutex<[[String]: Child]>([:])

    init(name: String, labelNames: [String], maxChildren: Int, make: @escaping @Sendable () -> Child) {
        self.name = name
        self.labelNames = labelNames
        self.maxChildren = maxChildren
        self.make = make
    }

    /// The child for these label values, one per label name, in order.
    /// Throws when the count of values is not the count of label names.
    public func labels(_ values: String...) throws(MetricsError) -> Child {
        try labels(values)
    }

    /// The child for these label values (array form).
    public func labels(_ values: [String]) throws(MetricsError) -> Child {
        guard values.count == labelNames.count else {
            throw .wrongLabelCount(name, expected: labelNames.count, found: values.count)
        }
        return child(values)
    }

    /// The child for `values`, whose count the caller has made right.
    func child(_ values: [String]) -> Child {
        children.withLock { children in
            if let child = children[values] { return child }
            var key = values
            if children.count >= maxChildren {
                key = values.map { _ in "_overflow" }
                if let child = children[key] { return child }
            }
            let child = make()
            children[key] = child
            return child
        }
    }

    /// Every child with its label values, sorted by the values (a stable
    /// scrape order).
    func sortedChildren() -> [(values: [String], child: Child)] {
        let all = children.withLock { children in children.map { (values: $0.key, child: $0.value) } }
        return all.sorted { $0.values.lexicographicallyPrecedes($1.values) }
    }
}

/// A mistake in registering or labelling a metric.
public enum MetricsError: Error, Hashable, CustomStringConvertible {
    /// The name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    case invalidName(String)
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, is
    /// repeated, or is `le` on a histogram.
    case invalidLabelName(metric: String, label: String)
    /// A metric of this name is already registered.
    case duplicate(String)
    /// Histogram bounds must be finite and strictly ascending, and at least one.
    case invalidBuckets(String, [Double])
    /// `labels(...)` got a different number of values than the metric has labels.
    case wrongLabelCount(String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "invalid metric name '\(name)': expected [a-zA-Z_:][a-zA-Z0-9_:]*"
        case .invalidLabelName(let metric, let label):
            "invalid label name '\(label)' on \(metric): expected [a-zA-Z_][a-zA-Z0-9_]*, "
                + "not starting with __, not repeated, and not 'le' on a histogram"
        case .duplicate(let name):
            "metric \(name) is already registered"
        case .invalidBuckets(let name, let bounds):
            "invalid buckets for \(name): expected finite, strictly ascending bounds, found \(bounds)"
        case .wrongLabelCount(let name, let expected, let found):
            "\(name) has \(expected) label(s), found \(found) value(s)"
        }
    }
}
