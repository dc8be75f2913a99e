import Synchronization

/// A monotonically increasing count (Prometheus `counter`).
///
/// Threading: any thread. `add` is one relaxed atomic add: no lock, no
/// allocation, safe on the loop thread's hot paths and on worker threads.
public final class Counter: Sendable {
    private let count = Atomic<UInt64>(0)

    init() {}

    /// Adds `amount` (wrapping at 2^64, which a count of events never reaches).
    public func add(_ amount: UInt64 = 1) {
        count.wrappingAdd(amount, ordering: .relaxed)
    }

    /// Adds one.
    public func increment() { add(1) }

    /// The current count.
    public var value: UInt64 { count.load(ordering: .relaxed) }
}

/// A value that goes up and down (Prometheus `gauge`).
///
/// Threading: any thread. `set` is one relaxed atomic store; `add` a short
/// compare-and-swap loop on the value's bits. No locks.
public final class Gauge: Sendable {
    private let bits = Atomic<UInt64>(0.0.bitPattern)

    init() {}

    /// Sets the value.
    public func set(_ value: Double) {
        bits.store(value.bitPattern, ordering: .relaxed)
    }

    /// Sets the value to a count.
    public func set(_ value: Int) { set(Double(value)) }

    /// Adds `delta` (negative to subtract).
    public func add(_ delta: Double) {
        var current = bits.load(ordering: .relaxed)
        while true {
            let next = (Double(bitPattern: current) + delta).bitPattern
            let (exchanged, original) = bits.weakCompareExchange(
                expected: current, desired: next, successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Adds one.
    public func increment() { add(1) }

    /// Subtracts one.
    public func decrement() { add(-1) }

    /// The current value.
    public var value: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }
}

/// Observations counted into fixed buckets (Prometheus `histogram`), with
/// their sum.
///
/// Threading: any thread. `observe` finds the bucket (a linear scan of the
/// few fixed bounds), does one relaxed atomic add on it and a short
/// compare-and-swap loop on the sum. No locks. A render running at the same
/// time may see an observation in its bucket but not yet in the sum; the
/// rendered buckets and `_count` always agree with each other.
public final class Histogram: Sendable {
    /// The buckets' upper bounds (inclusive), ascending and finite; `+Inf` is implied.
    public let bounds: [Double]
    /// One cell per bound, then one for `+Inf`: observations in that bucket
    /// alone (made cumulative when rendered).
    private let cells: [Cell]
    private let sumBits = Atomic<UInt64>(0.0.bitPattern)

    init(bounds: [Double]) {
        self.bounds = bounds
        cells = (0...bounds.count).map { _ in Cell() }
    }

    /// Counts `value` in the first bucket whose bound is ≥ it. NaN is
    /// ignored (it would make the sum meaningless).
    public func observe(_ value: Double) {
        guard !value.isNaN else { return }
        var index = 0
        while index < bounds.count && value > bounds[index] { index += 1 }
        cells[index].count.wrappingAdd(1, ordering: .relaxed)
        var current = sumBits.load(ordering: .relaxed)
        while true {
            let next = (Double(bitPattern: current) + value).bitPattern
            let (exchanged, original) = sumBits.weakCompareExchange(
                expected: current, desired: next, successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Observes a duration in seconds.
    public func observe(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) * 1e-18)
    }

    /// Observes the time elapsed since `start`, in seconds.
    public func observe(since start: ContinuousClock.Instant) {
        observe(ContinuousClock.now - start)
    }

    /// The cumulative count per bucket (the last is `+Inf`, the total) and
    /// the sum, as a render sees them.
    public var snapshot: (cumulative: [UInt64], sum: Double) {
        var running: UInt64 = 0
        let cumulative = cells.map { cell in
            running &+= cell.count.load(ordering: .relaxed)
            return running
        }
        return (cumulative, Double(bitPattern: sumBits.load(ordering: .relaxed)))
    }

    private final class Cell: Sendable {
        let count = Atomic<UInt64>(0)
    }
}

extension Histogram {
    /// Latency buckets in seconds, 100 µs to 10 s.
    public static let secondsBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    /// Size buckets: powers of two, 1 to 4096.
    public static let sizeBuckets: [Double] = (0...12).map { Double(1 << $0) }
}
