/// One GPU of a node, as discovery reports it.
public struct GPU: Sendable, Hashable, Codable {
    /// Lower-case vendor: "nvidia", "amd", "intel".
    public var vendor: String
    /// Model name as the driver reports it.
    public var model: String
    /// Device memory in bytes.
    public var memoryBytes: UInt64
    /// Device index on its node.
    public var index: UInt32
    /// Whether a job holds this GPU.
    public var allocated: Bool

    /// Creates a GPU description.
    public init(vendor: String, model: String, memoryBytes: UInt64, index: UInt32, allocated: Bool = false) {
        self.vendor = vendor.lowercased()
        self.model = model
        self.memoryBytes = memoryBytes
        self.index = index
        self.allocated = allocated
    }

    /// Whether this GPU satisfies `request`'s vendor, model and memory filters.
    public func matches(_ request: GPURequest) -> Bool {
        if let vendor = request.vendor, vendor.lowercased() != self.vendor { return false }
        if let model = request.model, !self.model.lowercased().contains(model.lowercased()) { return false }
        return memoryBytes >= request.minMemoryBytes
    }
}

/// What a job asks of a node's GPUs.
public struct GPURequest: Sendable, Hashable, Codable {
    /// Number of GPUs; zero means none.
    public var count: UInt32
    /// Required vendor, or nil for any.
    public var vendor: String?
    /// Required substring of the model name (case-insensitive), or nil.
    public var model: String?
    /// Minimum memory of each GPU in bytes.
    public var minMemoryBytes: UInt64

    /// Creates a GPU request.
    public init(count: UInt32 = 0, vendor: String? = nil, model: String? = nil, minMemoryBytes: UInt64 = 0) {
        self.count = count
        self.vendor = vendor?.lowercased()
        self.model = model
        self.minMemoryBytes = minMemoryBytes
    }

    /// No GPUs.
    public static let none = GPURequest()
}
