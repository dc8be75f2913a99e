import OrchionControl
import OrchionCore
import OrchionProto

extension Node {
    /// The scheduler's node for a registration: capacity as the agent
    /// offers it (its hardware when it offers nothing explicitly), GPUs from
    /// its capabilities. Validation is the caller's.
    init(_ register: Orchion_V1_Register) {
        let hardware = register.capabilities
        let capacity = register.capacity
        self.init(
            id: register.nodeID, arch: hardware.arch,
            cpuMillis: capacity.cpuMillis > 0 ? capacity.cpuMillis : UInt64(hardware.cpuCores) * 1000,
            memoryBytes: capacity.memoryBytes > 0 ? capacity.memoryBytes : hardware.memoryBytes,
            labels: register.labels,
            gpus: hardware.gpus.map {
                GPU(vendor: $0.vendor, model: $0.model, memoryBytes: $0.memoryBytes, index: $0.index)
            })
    }
}
