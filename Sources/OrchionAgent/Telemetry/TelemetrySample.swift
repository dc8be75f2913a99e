/// A host's live usage at one moment, sent with each heartbeat. A plain
/// value (`OrchionAgentProto` maps it to `orchion.v1.Telemetry`). A reading
/// the host could not give is nil.
///
/// Threading: a value; safe anywhere.
public struct TelemetrySample: Sendable, Hashable {
    /// The 1-minute load average (`/proc/loadavg`).
    public var loadAverage1m: Double?
    /// Busy share of all CPUs since the previous sample (or since the
    /// sampler was made), 0...1, from `/proc/stat`.
    public var cpuUtilization: Double?
    /// `MemTotal - MemAvailable`, in bytes.
    public var memoryUsedBytes: UInt64?
    /// `MemTotal`, in bytes.
    public var memoryTotalBytes: UInt64?
    /// Each GPU's usage, by `HostGPU.index`.
    public var gpus: [GPUSample]
    /// Every thermal zone that gave a temperature.
    public var thermalZones: [ThermalZone]
    /// When it was taken: seconds and nanoseconds since the Unix epoch.
    public var sampledAt: WallTime

    /// Creates a sample.
    public init(
        loadAverage1m: Double? = nil, cpuUtilization: Double? = nil, memoryUsedBytes: UInt64? = nil,
        memoryTotalBytes: UInt64? = nil, gpus: [GPUSample] = [], thermalZones: [ThermalZone] = [],
        sampledAt: WallTime = WallTime(seconds: 0, nanos: 0)
    ) {
        self.loadAverage1m = loadAverage1m
        self.cpuUtilization = cpuUtilization
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
        self.gpus = gpus
        self.thermalZones = thermalZones
        self.sampledAt = sampledAt
    }
}

/// One GPU's live usage; what the device does not report is nil.
///
/// Threading: a value; safe anywhere.
public struct GPUSample: Sendable, Hashable {
    /// The GPU's `HostGPU.index` (for NVML, its NVML index).
    public var index: UInt32
    /// Busy share, 0...1.
    public var utilization: Double?
    public var memoryUsedBytes: UInt64?
    public var temperatureCelsius: Double?
    public var powerWatts: Double?

    /// Creates a GPU sample.
    public init(
        index: UInt32, utilization: Double? = nil, memoryUsedBytes: UInt64? = nil, temperatureCelsius: Double? = nil,
        powerWatts: Double? = nil
    ) {
        self.index = index
        self.utilization = utilization
        self.memoryUsedBytes = memoryUsedBytes
        self.temperatureCelsius = temperatureCelsius
        self.powerWatts = powerWatts
    }
}

/// A kernel thermal zone's reading (`/sys/class/thermal/thermal_zoneN`).
///
/// Threading: a value; safe anywhere.
public struct ThermalZone: Sendable, Hashable {
    /// The zone's directory name ("thermal_zone0").
    public var zone: String
    /// What it measures, as the kernel says ("cpu-thermal", "x86_pkg_temp").
    public var type: String
    /// Degrees Celsius.
    public var celsius: Double

    /// Creates a thermal reading.
    public init(zone: String, type: String, celsius: Double) {
        self.zone = zone
        self.type = type
        self.celsius = celsius
    }
}

/// A wall-clock instant: seconds and nanoseconds since the Unix epoch.
///
/// Threading: a value; safe anywhere.
public struct WallTime: Sendable, Hashable {
    public var seconds: Int64
    public var nanos: Int32

    /// Creates an instant.
    public init(seconds: Int64, nanos: Int32) {
        self.seconds = seconds
        self.nanos = nanos
    }
}
