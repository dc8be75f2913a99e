import OrchionAgent
import OrchionProto
import SwiftProtobuf

// The agent's plain values as the wire's messages. Kept apart from
// `OrchionAgent` so discovery and telemetry build without SwiftProtobuf
// (which links Foundation); whoever sends them links this.

extension Orchion_V1_Capabilities {
    /// What `inventory` says, with the agent's version and executors.
    ///
    /// `cpu_cores` carries the logical CPUs (threads): what jobs are placed
    /// on. Labels, hostname and thermal facts are not part of this message.
    public init(_ inventory: HostInventory, agentVersion: String, executors: [String]) {
        self.init()
        arch = inventory.arch
        os = inventory.os
        cpuCores = UInt32(clamping: inventory.cpu.threads)
        cpuModel = inventory.cpu.model
        memoryBytes = inventory.memoryBytes
        gpus = inventory.gpus.map { gpu in
            var message = Orchion_V1_GPU()
            message.vendor = gpu.vendor
            message.model = gpu.model
            message.memoryBytes = gpu.memoryBytes
            message.index = gpu.index
            message.driver = gpu.driver
            return message
        }
        accelerators = inventory.accelerators.map { accelerator in
            var message = Orchion_V1_Accelerator()
            message.kind = accelerator.kind
            message.model = accelerator.model
            message.count = UInt32(clamping: accelerator.count)
            return message
        }
        self.agentVersion = agentVersion
        self.executors = executors
    }
}

extension Orchion_V1_Telemetry {
    /// What `sample` says; a reading the host could not give is sent as 0
    /// (the message has no absent values). Per-job usage is the daemon's.
    public init(_ sample: TelemetrySample) {
        self.init()
        cpuUtilization = sample.cpuUtilization ?? 0
        memoryUsedBytes = sample.memoryUsedBytes ?? 0
        loadAverage1M = sample.loadAverage1m ?? 0
        gpus = sample.gpus.map { gpu in
            var message = Orchion_V1_GPUTelemetry()
            message.index = gpu.index
            message.utilization = gpu.utilization ?? 0
            message.memoryUsedBytes = gpu.memoryUsedBytes ?? 0
            message.temperatureCelsius = gpu.temperatureCelsius ?? 0
            message.powerWatts = gpu.powerWatts ?? 0
            return message
        }
        memoryTotalBytes = sample.memoryTotalBytes ?? 0
        thermalZones = sample.thermalZones.map { zone in
            var message = Orchion_V1_ThermalZone()
            message.zone = zone.zone
            message.type = zone.type
            message.celsius = zone.celsius
            return message
        }
        var time = Google_Protobuf_Timestamp()
        time.seconds = sample.sampledAt.seconds
        time.nanos = sample.sampledAt.nanos
        sampledAt = time
    }
}
