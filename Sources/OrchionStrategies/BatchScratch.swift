import COrchionPlugin

/// Which nodes a search considers.
enum NodeFilter {
    case all
    case withGPUs
    case withoutGPUs
}

/// The per-batch working copy of what each node has free.
///
/// Built once per batch in O(nodes) from the read-only view, then updated as
/// jobs are placed, so the hot loops read one compact array instead of
/// chasing the view's pointers.
struct BatchScratch {
    /// What the hot loops read for one node.
    struct Slot {
        var cpu: UInt64
        var memory: UInt64
        let cpuWeight: Double
        let memoryWeight: Double
        let gpuWeight: Double
        var gpus: UInt32
        let ready: Bool
        let hasGPUs: Bool
    }

    let view: orchion_cluster_view
    private(set) var slots: [Slot]
    /// GPU indices taken by earlier jobs of this batch, per node.
    private var takenGPUs: [Int: [UInt32]] = [:]

    init(cluster: orchion_cluster_view) {
        view = cluster
        slots = (0..<cluster.node_count).map { index in
            let node = nodeAt(cluster, index).pointee
            func weight(_ capacity: UInt64) -> Double { capacity > 0 ? 1 / Double(capacity) : 0 }
            return Slot(
                cpu: node.free.cpu_millis, memory: node.free.memory_bytes,
                cpuWeight: weight(node.capacity.cpu_millis), memoryWeight: weight(node.capacity.memory_bytes),
                gpuWeight: weight(UInt64(node.capacity.gpus)), gpus: node.free.gpus,
                ready: node.state == Int32(ORCHION_NODE_READY.rawValue), hasGPUs: node.gpu_count > 0)
        }
    }

    /// The first node at or after `start` (wrapping) that fits `job`.
    func firstFit(_ job: UnsafePointer<orchion_job>, from start: Int) -> Int? {
        let count = slots.count
        guard count > 0 else { return nil }
        let need = Need(job)
        return slots.withUnsafeBufferPointer { slots in
            var index = start % count
            for _ in 0..<count {
                if need.fits(slots[index]) && (need.simple || problem(job, index) == nil) { return index }
                index = index + 1 == count ? 0 : index + 1
            }
            return nil
        }
    }

    /// The fitting node left fullest (`fullest`) or emptiest after placing `job`, or -1.
    ///
    /// The hot loop of bin-packing and spread: it reads only the compact
    /// slots, and checks labels, arch and GPU models (pointer-chasing) only
    /// for a node that would otherwise win.
    func best(_ job: UnsafePointer<orchion_job>, fullest: Bool, nodes filter: NodeFilter) -> Int {
        let need = Need(job)
        let sign = fullest ? 1.0 : -1.0
        let (checkGPUs, wantGPUs) = filter == .all ? (false, false) : (true, filter == .withGPUs)
        return slots.withUnsafeBufferPointer { slots in
            var chosen = -1
            var chosenCost = Double.infinity
            for index in 0..<slots.count {
                let slot = slots[index]
                guard need.fits(slot), !checkGPUs || slot.hasGPUs == wantGPUs else { continue }
                let cost =
                    sign
                    * (Double(slot.cpu &- need.cpu) * slot.cpuWeight
                        + Double(slot.memory &- need.memory) * slot.memoryWeight
                        + Double(slot.gpus &- need.gpus) * slot.gpuWeight)
                guard cost < chosenCost, need.simple || problem(job, index) == nil else { continue }
                chosen = index
                chosenCost = cost
            }
            return chosen
        }
    }

    /// A job's needs, hoisted out of the node loops.
    private struct Need {
        let cpu: UInt64
        let memory: UInt64
        let gpus: UInt32
        /// No arch, label or GPU filters: resources alone decide.
        let simple: Bool

        init(_ job: UnsafePointer<orchion_job>) {
            let resources = job.pointee.resources
            cpu = resources.cpu_millis
            memory = resources.memory_bytes
            gpus = resources.gpus
            simple = job.pointee.arch == nil && job.pointee.constraint_count == 0 && gpus == 0
        }

        @inline(__always)
        func fits(_ slot: Slot) -> Bool {
            slot.ready && cpu <= slot.cpu && memory <= slot.memory && gpus <= slot.gpus
        }
    }

    /// Why `job` does not fit on node `index` (labels, arch, GPUs, resources), or nil.
    /// Internal, not private: `FitRuleAgreementTests` holds it to `NodeLedger`'s verdict.
    func problem(_ job: UnsafePointer<orchion_job>, _ index: Int) -> Problem? {
        let slot = slots[index]
        let node = nodeAt(view, index).pointee
        let need = job.pointee.resources
        if !slot.ready { return .notReady }
        if let arch = job.pointee.arch, !cEqual(arch, node.arch) { return .arch }
        for constraint in 0..<job.pointee.constraint_count {
            let wanted = constraintAt(job.pointee, constraint).pointee
            let found = (0..<node.label_count).contains { label in
                let have = labelAt(node, label).pointee
                return cEqual(have.key, wanted.key) && cEqual(have.value, wanted.value)
            }
            if !found { return .constraint }
        }
        if need.cpu_millis > slot.cpu { return .cpu }
        if need.memory_bytes > slot.memory { return .memory }
        if need.gpus > 0 && matchingFreeGPUs(job, index).count < Int(need.gpus) { return .gpu }
        return nil
    }

    /// Free GPUs of node `index` that satisfy `job`'s GPU request, in the node's order.
    func matchingFreeGPUs(_ job: UnsafePointer<orchion_job>, _ index: Int) -> [UInt32] {
        let node = nodeAt(view, index).pointee
        let request = job.pointee.gpu
        let taken = takenGPUs[index] ?? []
        return (0..<node.gpu_count).compactMap { slot in
            let gpu = gpuAt(node, slot).pointee
            guard gpu.allocated == 0, !taken.contains(gpu.index), gpu.memory_bytes >= request.min_memory_bytes
            else { return nil }
            if let vendor = request.vendor, !cEqual(vendor, gpu.vendor) { return nil }
            if let model = request.model, !cContainsIgnoringCase(gpu.model, model) { return nil }
            return gpu.index
        }
    }

    /// Records that `job` now holds resources on node `index`, and returns
    /// the device indices of the GPUs it takes there (the first free matching
    /// ones in view order; empty for a job without GPUs).
    mutating func commit(_ job: UnsafePointer<orchion_job>, node index: Int) -> ArraySlice<UInt32> {
        let need = job.pointee.resources
        var gpus: ArraySlice<UInt32> = []
        if need.gpus > 0 {
            gpus = matchingFreeGPUs(job, index).prefix(Int(need.gpus))
            takenGPUs[index, default: []] += gpus
        }
        slots[index].cpu -= need.cpu_millis
        slots[index].memory -= need.memory_bytes
        slots[index].gpus -= need.gpus
        return gpus
    }

    /// A one-line summary of why no node takes `job`.
    func explain(_ job: UnsafePointer<orchion_job>) -> String {
        guard !slots.isEmpty else { return "no nodes in the cluster" }
        var tally: [Problem: Int] = [:]
        for index in slots.indices { tally[problem(job, index) ?? .filtered, default: 0] += 1 }
        let parts = Problem.allCases.compactMap { problem in tally[problem].map { "\($0) \(problem.phrase)" } }
        return "no node fits (\(slots.count) nodes): " + parts.joined(separator: ", ")
    }

    enum Problem: CaseIterable {
        case notReady, arch, constraint, cpu, memory, gpu, filtered

        var phrase: String {
            switch self {
            case .notReady: "not ready"
            case .arch: "wrong arch"
            case .constraint: "missing labels"
            case .cpu: "short of CPU"
            case .memory: "short of memory"
            case .gpu: "short of matching GPUs"
            case .filtered: "excluded by the strategy"
            }
        }
    }
}

/// Whether two NUL-terminated strings are equal.
@inline(__always)
func cEqual(_ lhs: UnsafePointer<CChar>?, _ rhs: UnsafePointer<CChar>?) -> Bool {
    guard var a = lhs, var b = rhs else { return lhs == nil && rhs == nil }
    while a.pointee == b.pointee {
        if a.pointee == 0 { return true }
        a += 1
        b += 1
    }
    return false
}

/// Whether `haystack` contains `needle`, ASCII case-insensitively.
func cContainsIgnoringCase(_ haystack: UnsafePointer<CChar>?, _ needle: UnsafePointer<CChar>) -> Bool {
    guard let haystack else { return false }
    let text = String(cString: haystack).lowercased()
    let part = String(cString: needle).lowercased()
    return part.isEmpty || text.contains(part)
}
