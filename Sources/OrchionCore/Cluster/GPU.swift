/// One GPU of a node, as discovery reports it. Mirrors `orchion.v1.GPU`.
///
/// Threading: a value; safe anywhere.
public struct GPU: Sendable, Hashable, Codable {
    /// Lower-case vendor: "nvidia", "amd", "intel". Stored lower-cased whatever is assigned.
    public var vendor: String {
        didSet { vendor = vendor.lowercased() }
    }
    /// Model name as the driver reports it.
    public var model: String
    /// Device memory in bytes.
    public var memoryBytes: UInt64
    /// Device index on its node: what an assignment names and the agent pins.
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
    ///
    /// The vendor compares byte for byte (both sides are stored lower-cased),
    /// the model as a case-insensitive substring: the same rule the built-in
    /// strategies apply to the C view.
    public func matches(_ request: GPURequest) -> Bool {
        if let vendor = request.vendor, !vendor.utf8.elementsEqual(self.vendor.utf8) { return false }
        if let model = request.model, !self.model.lowercased().contains(model.lowercased()) { return false }
        return memoryBytes >= request.minMemoryBytes
    }
}

/// What a job asks of a node's GPUs. Mirrors `orchion.v1.GPURequest`, where
/// an empty vendor or model means "any": here that is nil, and an empty
/// string assigned is stored as nil.
///
/// Threading: a value; safe anywhere.
public struct GPURequest: Sendable, Hashable, Codable {
    /// Number of GPUs; zero means none.
    public var count: UInt32
    /// Required vendor (stored lower-cased), or nil for any.
    public var vendor: String? {
        didSet { vendor = Self.normalized(vendor)?.lowercased() }
    }
    /// Required substring of the model name (case-insensitive), or nil.
    public var model: String? {
        didSet { model = Self.normalized(model) }
    }
    /// Minimum memory of each GPU in bytes.
    public var minMemoryBytes: UInt64

    /// Creates a GPU request.
    public init(count: UInt32 = 0, vendor: String? = nil, model: String? = nil, minMemoryBytes: UInt64 = 0) {
        self.count = count
        self.vendor = Self.normalized(vendor)?.lowercased()
        self.model = Self.normalized(model)
        self.minMemoryBytes = minMemoryBytes
    }

    /// No GPUs.
    public static let none = GPURequest()

    private static func normalized(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}
