/// NVIDIA GPUs: from NVML when it loads, else from `nvidia-smi`'s CSV.
///
/// Threading: blocking (NVML calls, a child process); off the loop thread.
enum NvidiaDiscovery {
    /// The query `nvidia-smi` is run with.
    static let smiArguments = [
        "--query-gpu=index,name,memory.total,driver_version", "--format=csv,noheader,nounits",
    ]

    /// The GPUs NVML reports, or why it could not.
    static func fromNVML(_ nvml: NVML) -> Result<[HostGPU], NVMLError> {
        do {
            let driver = try nvml.driver()
            return .success(
                try nvml.devices().map { device in
                    HostGPU(
                        vendor: "nvidia", model: device.name, memoryBytes: device.memoryBytes, index: device.index,
                        deviceIndex: device.index, driver: driver, source: .nvml)
                })
        } catch {
            return .failure(error)
        }
    }

    /// Parses `nvidia-smi --query-gpu=index,name,memory.total,driver_version
    /// --format=csv,noheader,nounits` output: one line per GPU, memory in MiB.
    static func parseSMI(_ text: String) -> Result<[HostGPU], DiscoveryError> {
        var gpus: [HostGPU] = []
        for line in text.split(separator: "\n") where !line.kernelTrimmed.isEmpty {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(\.kernelTrimmed)
            // A name may itself hold commas: the first field is the index, the last two memory and driver.
            guard fields.count >= 4, let index = UInt32(fields[0]), let mebibytes = UInt64(fields[fields.count - 2])
            else {
                return .failure(
                    .malformed(source: "nvidia-smi output", expected: "index, name, MiB, driver", found: String(line)))
            }
            let (bytes, overflow) = mebibytes.multipliedReportingOverflow(by: 1 << 20)
            guard !overflow else {
                return .failure(
                    .malformed(source: "nvidia-smi output", expected: "a memory size in MiB", found: String(line)))
            }
            // The name as written, commas and their spaces kept.
            let commas = line.indices.filter { line[$0] == "," }
            let name = line[line.index(after: commas[0])..<commas[commas.count - 2]].kernelTrimmed
            gpus.append(
                HostGPU(
                    vendor: "nvidia", model: name, memoryBytes: bytes,
                    index: index, deviceIndex: index, driver: fields[fields.count - 1], source: .nvidiaSMI))
        }
        return .success(gpus)
    }
}

/// Why a discovery source was not used.
public enum DiscoveryError: Error, Hashable, CustomStringConvertible {
    /// A file or program's output did not have the expected shape.
    case malformed(source: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .malformed(source, expected, found): "\(source): expected \(expected), found '\(found)'"
        }
    }
}
