/// An amount of compute: CPU in thousandths of a core, memory in bytes, whole
/// GPUs. Mirrors `orchion.v1.Resources`.
///
/// Threading: a value; safe anywhere.
public struct Resources: Sendable, Hashable, Codable {
    /// CPU in thousandths of a core (1000 = one core).
    public var cpuMillis: UInt64
    /// Memory in bytes.
    public var memoryBytes: UInt64
    /// Whole GPUs.
    public var gpus: UInt32

    /// Creates an amount of resources.
    public init(cpuMillis: UInt64 = 0, memoryBytes: UInt64 = 0, gpus: UInt32 = 0) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.gpus = gpus
    }

    /// Nothing at all.
    public static let zero = Resources()

    /// Whether every component is at most the matching one of `other`.
    public func fits(in other: Resources) -> Bool {
        cpuMillis <= other.cpuMillis && memoryBytes <= other.memoryBytes && gpus <= other.gpus
    }

    /// The component-wise sum, saturating at each component's maximum (never traps).
    public static func + (lhs: Resources, rhs: Resources) -> Resources {
        func add<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : sum
        }
        return Resources(
            cpuMillis: add(lhs.cpuMillis, rhs.cpuMillis), memoryBytes: add(lhs.memoryBytes, rhs.memoryBytes),
            gpus: add(lhs.gpus, rhs.gpus))
    }

    /// The component-wise difference, clamped at zero.
    public static func - (lhs: Resources, rhs: Resources) -> Resources {
        Resources(
            cpuMillis: lhs.cpuMillis > rhs.cpuMillis ? lhs.cpuMillis - rhs.cpuMillis : 0,
            memoryBytes: lhs.memoryBytes > rhs.memoryBytes ? lhs.memoryBytes - rhs.memoryBytes : 0,
            gpus: lhs.gpus > rhs.gpus ? lhs.gpus - rhs.gpus : 0
        )
    }
}
