import COrchionPlugin
import OrchionCore
import OrchionStrategies

/// The cluster as scheduler plugins see it: a contiguous C array of
/// `orchion_node`, kept up to date one node at a time (no copy per decision),
/// beside the Swift `Node` values it mirrors.
///
/// The host owns every string and array the C view points to.
/// Threading: one thread at a time — the scheduler thread when a
/// `SchedulingService` owns it.
public final class ClusterView {
    private var storage: UnsafeMutablePointer<orchion_node>
    private var capacity: Int
    private var owned: [NodeStrings] = []
    /// The nodes in view order: `nodes[i]` is C node `i`.
    public private(set) var nodes: [Node] = []
    private var positions: [String: Int] = [:]

    /// Creates an empty view.
    public init(capacity: Int = 64) {
        self.capacity = max(capacity, 1)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// The view's position of node `id`.
    public func index(of id: String) -> Int? { positions[id] }

    /// Adds `node`, or replaces the node with its id, once it passes
    /// `Node.validate()` (so the view never holds, say, two GPUs with one
    /// index, on which the fit rule and a strategy could disagree).
    /// O(labels + GPUs).
    public func upsert(_ node: Node) throws(NodeError) {
        try node.validate()
        store(node)
    }

    /// Adds or replaces a node that passed `Node.validate()`.
    func store(_ node: Node) {
        let strings = NodeStrings(node)
        if let index = positions[node.id] {
            nodes[index] = node
            owned[index] = strings
            storage[index] = strings.cNode(node)
            return
        }
        if nodes.count == capacity {
            let grown = UnsafeMutablePointer<orchion_node>.allocate(capacity: capacity * 2)
            grown.moveInitialize(from: storage, count: nodes.count)
            storage.deallocate()
            storage = grown
            capacity *= 2
        }
        (storage + nodes.count).initialize(to: strings.cNode(node))
        positions[node.id] = nodes.count
        nodes.append(node)
        owned.append(strings)
    }

    /// Removes node `id` by moving the last node into its place. O(1).
    public func remove(_ id: String) {
        guard let index = positions.removeValue(forKey: id) else { return }
        let last = nodes.count - 1
        if index != last {
            storage[index] = storage[last]
            nodes[index] = nodes[last]
            owned[index] = owned[last]
            positions[nodes[index].id] = index
        }
        nodes.removeLast()
        owned.removeLast()
    }

    /// Calls `body` with the C view; valid only during the call.
    public func withCView<T>(_ body: (UnsafePointer<orchion_cluster_view>) throws -> T) rethrows -> T {
        var view = orchion_cluster_view(
            struct_size: UInt32(MemoryLayout<orchion_cluster_view>.size),
            node_size: UInt32(MemoryLayout<orchion_node>.stride),
            nodes: UnsafePointer(storage), node_count: nodes.count)
        return try body(&view)
    }
}

/// The C strings and arrays of one node, freed when replaced or removed.
private final class NodeStrings {
    private let strings = CStrings()
    private let labels: UnsafeMutablePointer<orchion_kv>
    private let gpus: UnsafeMutablePointer<orchion_gpu>
    private let id: UnsafePointer<CChar>
    private let arch: UnsafePointer<CChar>

    init(_ node: Node) {
        labels = .allocate(capacity: max(node.labels.count, 1))
        gpus = .allocate(capacity: max(node.gpus.count, 1))
        id = strings.keep(node.id)
        arch = strings.keep(node.arch)
        for (index, label) in node.labels.sorted(by: { $0.key < $1.key }).enumerated() {
            labels[index] = orchion_kv(key: strings.keep(label.key), value: strings.keep(label.value))
        }
        for (index, gpu) in node.gpus.enumerated() {
            gpus[index] = orchion_gpu(
                vendor: strings.keep(gpu.vendor), model: strings.keep(gpu.model), memory_bytes: gpu.memoryBytes,
                index: gpu.index, allocated: gpu.allocated ? 1 : 0)
        }
    }

    func cNode(_ node: Node) -> orchion_node {
        let free = node.free
        let freeGPUs = UInt32(node.gpus.filter { !$0.allocated }.count)
        return orchion_node(
            id: id, arch: arch, state: Int32(cState(node).rawValue), reserved: 0,
            capacity: orchion_resources(
                cpu_millis: node.capacity.cpuMillis, memory_bytes: node.capacity.memoryBytes,
                gpus: UInt32(node.gpus.count), reserved: 0),
            free: orchion_resources(
                cpu_millis: free.cpuMillis, memory_bytes: free.memoryBytes, gpus: freeGPUs, reserved: 0),
            labels: UnsafePointer(labels), label_count: node.labels.count,
            label_size: UInt32(MemoryLayout<orchion_kv>.stride), gpu_size: UInt32(MemoryLayout<orchion_gpu>.stride),
            gpus: UnsafePointer(gpus), gpu_count: node.gpus.count)
    }

    /// A cordoned node takes no new jobs: the C view (which has no cordon
    /// state) shows it as draining, so strategies pass it over like any node
    /// that is not ready.
    private func cState(_ node: Node) -> orchion_node_state {
        switch node.state {
        case .ready: node.cordoned ? ORCHION_NODE_DRAINING : ORCHION_NODE_READY
        case .draining: ORCHION_NODE_DRAINING
        case .suspect: ORCHION_NODE_SUSPECT
        case .down: ORCHION_NODE_DOWN
        }
    }

    deinit {
        labels.deallocate()
        gpus.deallocate()
    }
}
