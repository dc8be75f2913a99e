import Glibc

/// Takes telemetry samples of a host: load, CPU and memory use, GPU usage
/// (NVML for NVIDIA GPUs it found, sysfs for AMD), thermal zones. CPU
/// utilisation is measured between consecutive samples from `/proc/stat`;
/// making the sampler takes the first reading.
///
/// Threading: a value with mutable state; one thread at a time (the agent's
/// sampling worker). `sample()` blocks on file reads and NVML: call it off
/// the loop thread.
public struct TelemetrySampler: Sendable {
    /// The tree the kernel's files are read from.
    public let root: HostRoot
    /// The GPUs discovery found; those from NVML are sampled through `nvml`.
    public let gpus: [HostGPU]
    /// NVML, where it loaded.
    public let nvml: NVML?
    private var previous: CPUTimes?

    /// Creates a sampler of `root` and takes the first CPU reading.
    public init(root: HostRoot = HostRoot(), gpus: [HostGPU] = [], nvml: NVML? = nil) {
        self.root = root
        self.gpus = gpus
        self.nvml = nvml
        self.previous = CPUTimes(root.text("/proc/stat", limit: 64 << 10))
    }

    /// The usage now; CPU utilisation since the previous call.
    public mutating func sample() -> TelemetrySample {
        var sample = TelemetrySample(sampledAt: Self.now())
        if let text = root.text("/proc/loadavg", limit: 4096), let first = text.split(separator: " ").first {
            sample.loadAverage1m = Double(first)
        }
        let current = CPUTimes(root.text("/proc/stat", limit: 64 << 10))
        if let current, let previous { sample.cpuUtilization = current.utilization(since: previous) }
        if current != nil { previous = current }
        if let meminfo = root.text("/proc/meminfo", limit: 64 << 10),
            let total = KernelText.memInfoBytes(meminfo, "MemTotal")
        {
            sample.memoryTotalBytes = total
            let available =
                KernelText.memInfoBytes(meminfo, "MemAvailable")
                ?? [
                    KernelText.memInfoBytes(meminfo, "MemFree"), KernelText.memInfoBytes(meminfo, "Buffers"),
                    KernelText.memInfoBytes(meminfo, "Cached"),
                ]
                .reduce(0) { $0.addingReportingOverflow($1 ?? 0).partialValue }
            sample.memoryUsedBytes = total >= available ? total - available : 0
        }
        sample.gpus = gpus.compactMap(gpuSample)
        sample.thermalZones = thermalZones()
        return sample
    }

    private func gpuSample(_ gpu: HostGPU) -> GPUSample? {
        switch gpu.source {
        case .nvml:
            guard var reading = try? nvml?.usage(index: gpu.deviceIndex) else { return nil }
            reading.index = gpu.index
            return reading
        case .sysfs:
            guard gpu.vendor == "amd", let path = gpu.sysfsPath else { return nil }
            let device = path + "/device"
            var reading = GPUSample(index: gpu.index)
            reading.utilization = root.unsigned(device + "/gpu_busy_percent").map { Double(min($0, 100)) / 100 }
            reading.memoryUsedBytes = root.unsigned(device + "/mem_info_vram_used")
            if let hwmon = root.entries(device + "/hwmon").first(where: { $0.hasPrefix("hwmon") }) {
                let base = device + "/hwmon/" + hwmon
                reading.temperatureCelsius = root.value(base + "/temp1_input").flatMap { Int64($0) }.map {
                    Double($0) / 1000
                }
                let microwatts = root.unsigned(base + "/power1_average") ?? root.unsigned(base + "/power1_input")
                reading.powerWatts = microwatts.map { Double($0) / 1_000_000 }
            }
            return reading
        case .nvidiaSMI:
            return nil
        }
    }

    private func thermalZones() -> [ThermalZone] {
        root.entries("/sys/class/thermal").compactMap { zone in
            guard zone.hasPrefix("thermal_zone"),
                let millidegrees = root.value("/sys/class/thermal/" + zone + "/temp").flatMap({ Int64($0) })
            else { return nil }
            let type = root.value("/sys/class/thermal/" + zone + "/type") ?? ""
            return ThermalZone(zone: zone, type: type, celsius: Double(millidegrees) / 1000)
        }
    }

    /// The wall clock now.
    static func now() -> WallTime {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return WallTime(seconds: Int64(now.tv_sec), nanos: Int32(clamping: now.tv_nsec))
    }
}

/// The all-CPU line of `/proc/stat`, in clock ticks.
struct CPUTimes: Sendable, Hashable {
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is inside user).
    var total: UInt64
    /// idle + iowait.
    var idle: UInt64

    /// Reads the "cpu " line; nil when absent or malformed.
    init?(_ text: String?) {
        guard let text, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else {
            return nil
        }
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        var total: UInt64 = 0
        for value in values {
            let (sum, overflow) = total.addingReportingOverflow(value)
            guard !overflow else { return nil }
            total = sum
        }
        self.total = total
        self.idle = values[3].addingReportingOverflow(values.count > 4 ? values[4] : 0).partialValue
    }

    /// Busy share of the ticks between `earlier` and this, 0...1; 0 when no
    /// time passed or the counters went back (iowait may).
    func utilization(since earlier: CPUTimes) -> Double {
        guard total > earlier.total else { return 0 }
        let elapsed = total - earlier.total
        let busyNow = total - min(idle, total)
        let busyBefore = earlier.total - min(earlier.idle, earlier.total)
        guard busyNow > busyBefore else { return 0 }
        return min(1, Double(busyNow - busyBefore) / Double(elapsed))
    }
}
