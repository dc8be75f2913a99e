/// What a job needs from the node it runs on: the scheduling part of
/// `orchion.v1.JobSpec` (resources, gpu, arch, constraints, priority).
///
/// Threading: a value; safe anywhere.
public struct JobRequirements: Sendable, Hashable, Codable {
    /// CPU and memory; `resources.gpus` always equals `gpu.count`.
    public private(set) var resources: Resources
    /// GPU count and filters.
    public private(set) var gpu: GPURequest
    /// Required architecture, or nil for any (the schema's empty string; an
    /// empty string assigned is stored as nil).
    public var arch: String? {
        didSet { arch = arch?.isEmpty == true ? nil : arch }
    }
    /// Labels the node must carry with exactly these values (compared byte for byte).
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
        self.arch = arch?.isEmpty == true ? nil : arch
        self.constraints = constraints
        self.priority = priority
    }

    /// Checks the requirements and throws the first problem found.
    public func validate() throws(JobSpecError) {
        for key in constraints.keys.sorted() where key.isEmpty {
            throw .invalidField("constraints", expected: "non-empty label keys", found: "an empty key")
        }
        let strings =
            [arch, gpu.vendor, gpu.model].compactMap { $0 } + Array(constraints.keys) + Array(constraints.values)
        if strings.contains(where: { $0.utf8.contains(0) }) {
            throw .invalidField("requirements", expected: "strings without NUL bytes", found: "a NUL byte")
        }
    }
}
