/// Health of a node. Only ready nodes take new jobs. Mirrors `orchion.v1.NodeState`.
public enum NodeState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Heartbeating and accepting jobs.
    case ready
    /// Finishing its jobs, taking no new ones.
    case draining
    /// Missed heartbeats; may come back.
    case suspect
    /// Gone; its jobs are lost.
    case down
}

/// A machine in the cluster and what it offers. Mirrors `orchion.v1.Node`.
///
/// A node's GPUs have one source of truth: `gpus`. The GPU counts of
/// `capacity`, `allocated` and `free` are derived from it (how many GPUs,
/// how many flagged allocated), never stored beside it, so they cannot
/// disagree with the list the fit rule and the scheduler view read.
///
/// Threading: a value; safe anywhere.
public struct Node: Sendable, Hashable, Codable, Identifiable {
    /// Stable node identifier.
    public var id: String
    /// CPU architecture as `uname -m` names it.
    public var arch: String
    /// Current health.
    public var state: NodeState
    /// Whether an operator cordoned the node: it keeps its jobs but takes no
    /// new ones, whatever its health. Strategies see it as not ready.
    public var cordoned: Bool
    /// CPU the node offers to jobs in total, in thousandths of a core.
    public var cpuMillis: UInt64
    /// Memory the node offers to jobs in total, in bytes.
    public var memoryBytes: UInt64
    /// CPU held by running jobs, in thousandths of a core.
    public var allocatedCPUMillis: UInt64
    /// Memory held by running jobs, in bytes.
    public var allocatedMemoryBytes: UInt64
    /// Free-form labels used by job constraints.
    public var labels: [String: String]
    /// The node's GPUs, each with its node-local index and whether a job holds it.
    public var gpus: [GPU]

    /// The most GPUs a node may declare (far above any real machine; what
    /// an agent sends beyond it would only cost the server time and memory).
    public static let gpuLimit = 1024
    /// The most labels a node may carry.
    public static let labelLimit = 256
    /// The longest label key or value, in bytes.
    public static let labelBytesLimit = 1024

    /// Creates a node.
    public init(
        id: String, arch: String = "x86_64", state: NodeState = .ready,
        cpuMillis: UInt64, memoryBytes: UInt64, allocatedCPUMillis: UInt64 = 0, allocatedMemoryBytes: UInt64 = 0,
        labels: [String: String] = [:], gpus: [GPU] = [], cordoned: Bool = false
    ) {
        self.id = id
        self.arch = arch
        self.state = state
        self.cordoned = cordoned
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.allocatedCPUMillis = allocatedCPUMillis
        self.allocatedMemoryBytes = allocatedMemoryBytes
        self.labels = labels
        self.gpus = gpus
    }

    /// What the node offers in total; `gpus` counts the GPU list.
    public var capacity: Resources {
        Resources(cpuMillis: cpuMillis, memoryBytes: memoryBytes, gpus: UInt32(clamping: gpus.count))
    }

    /// What running jobs hold; `gpus` counts the GPUs flagged allocated.
    public var allocated: Resources {
        Resources(
            cpuMillis: allocatedCPUMillis, memoryBytes: allocatedMemoryBytes,
            gpus: UInt32(clamping: gpus.count(where: \.allocated)))
    }

    /// What is not held by running jobs (clamped at zero); `gpus` counts the unallocated GPUs.
    public var free: Resources { capacity - allocated }

    private enum CodingKeys: String, CodingKey {
        case id, arch, state, cordoned, cpuMillis, memoryBytes, allocatedCPUMillis, allocatedMemoryBytes, labels, gpus
    }

    /// Decodes a node; `cordoned` may be absent (it was added later) and then is false.
    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        id = try values.decode(String.self, forKey: .id)
        arch = try values.decode(String.self, forKey: .arch)
        state = try values.decode(NodeState.self, forKey: .state)
        cordoned = try values.decodeIfPresent(Bool.self, forKey: .cordoned) ?? false
        cpuMillis = try values.decode(UInt64.self, forKey: .cpuMillis)
        memoryBytes = try values.decode(UInt64.self, forKey: .memoryBytes)
        allocatedCPUMillis = try values.decode(UInt64.self, forKey: .allocatedCPUMillis)
        allocatedMemoryBytes = try values.decode(UInt64.self, forKey: .allocatedMemoryBytes)
        labels = try values.decode([String: String].self, forKey: .labels)
        gpus = try values.decode([GPU].self, forKey: .gpus)
    }

    /// Checks the node and throws the first problem found.
    ///
    /// Running jobs holding more than the capacity is not a problem: it
    /// happens when a node comes back smaller than it was (a memory module
    /// gone, a cgroup shrunk) while its jobs still run. `free` clamps at
    /// zero, so such a node takes nothing new until jobs end.
    public func validate() throws(NodeError) {
        if id.isEmpty || id.utf8.count > 253 || id.contains(where: { $0.isWhitespace || $0 == "/" }) {
            throw .invalidField("id", expected: "1–253 characters without spaces or '/'", found: id)
        }
        if arch.isEmpty { throw .invalidField("arch", expected: "an architecture such as x86_64", found: "\"\"") }
        if labels.count > Self.labelLimit {
            throw .invalidField("labels", expected: "at most \(Self.labelLimit) labels", found: "\(labels.count)")
        }
        for key in labels.keys.sorted() where key.isEmpty {
            throw .invalidField("labels", expected: "non-empty label keys", found: "an empty key")
        }
        for (key, value) in labels
        where key.utf8.count > Self.labelBytesLimit || value.utf8.count > Self.labelBytesLimit {
            throw .invalidField(
                "labels", expected: "keys and values of at most \(Self.labelBytesLimit) bytes",
                found: "\(key.utf8.count)-byte key, \(value.utf8.count)-byte value")
        }
        if gpus.count > Self.gpuLimit {
            throw .invalidField("gpus", expected: "at most \(Self.gpuLimit) GPUs", found: "\(gpus.count)")
        }
        var seen: Set<UInt32> = []
        for gpu in gpus {
            guard seen.insert(gpu.index).inserted else {
                throw .invalidField("gpus", expected: "distinct GPU indices", found: "index \(gpu.index) twice")
            }
            if gpu.vendor != gpu.vendor.lowercased() {
                throw .invalidField("gpus", expected: "a lower-case vendor", found: gpu.vendor)
            }
        }
        let strings = [id, arch] + Array(labels.keys) + Array(labels.values) + gpus.flatMap { [$0.vendor, $0.model] }
        if strings.contains(where: { $0.utf8.contains(0) }) {
            throw .invalidField("node", expected: "strings without NUL bytes", found: "a NUL byte")
        }
    }
}

/// Why a node description was refused.
public enum NodeError: Error, Hashable, CustomStringConvertible {
    /// A field holds something unacceptable.
    case invalidField(String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .invalidField(field, expected, found):
            "invalid node field '\(field)': expected \(expected), found \(found)"
        }
    }
}
