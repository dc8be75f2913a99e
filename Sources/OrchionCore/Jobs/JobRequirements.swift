/// What a job needs from the node it runs on.
public struct JobRequirements: Sendable, Hashable, Codable {
    /// CPU and memory; `resources.gpus` always equals `gpu.count`.
    public private(set) var resources: Resources
    /// GPU count and filters.
    public private(set) var gpu: GPURequest
    /// Required architecture, or nil for any.
    public var arch: String?
    /// Labels the node must carry with exactly these values.
    public var constraints: [String: String]
    /// Higher runs first.
    public var priority: Int32

    /// Creates requirements.
    public init(
        cpuMillis: UInt64 = 0, memoryBytes: UInt64 = 0, gpu: GPURequest = .none,
        arch: String? = nil, constraints: [String: String] = [:], priority: Int32 = 0
    ) {
        self.resources = Resources(cpuMillis: cpuMillis, memoryBytes: memoryBytes, gpus: gpu.count)
        self.gpu = gpu
        self.arch = arch
        self.constraints = constraints
        self.priority = priority
    }
}
