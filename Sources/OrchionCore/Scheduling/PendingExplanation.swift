/// Why a job is still pending, in words a user understands: the fit rule
/// (`NodeLedger.check`) run against every node, its rejections grouped into
/// reasons with node counts, most nodes first.
///
///     3 nodes: 2 lack a free GPU with ≥ 16 GiB, 1 is draining
///     4 nodes: 4 lack 8 GiB of free memory (largest free: 6 GiB)
///     no nodes registered
///
/// Nodes that pass the fit rule are counted too: the strategy declined them
/// (`declined`), or the round placed other jobs there first.
/// `summary` is `orchion.v1.Job.reason`; `reasons` are its `PendingReason`s.
///
/// Threading: a value; safe anywhere. Pure: reads only its arguments.
public struct PendingExplanation: Sendable, Hashable {
    /// One reason and how many nodes it holds for.
    public struct Reason: Sendable, Hashable {
        /// What holds for these nodes, without the count ("lack 8 GiB of free memory").
        public let reason: String
        /// How many nodes.
        public let nodes: Int

        public init(reason: String, nodes: Int) {
            self.reason = reason
            self.nodes = nodes
        }
    }

    /// The whole explanation on one line.
    public let summary: String
    /// Each reason with its node count, most nodes first (ties in text order).
    public let reasons: [Reason]

    /// The reasons as pairs, for mapping to `PendingReason`.
    public var pairs: [(reason: String, nodes: Int)] { reasons.map { ($0.reason, $0.nodes) } }

    /// Explains why `requirements` are not placed on `nodes`. `declined`
    /// names the strategy that left the job pending and its reason, said for
    /// the nodes that fit on paper.
    public init<Nodes: Sequence<Node>>(
        _ requirements: JobRequirements, nodes: Nodes, declined: (strategy: String, reason: String)? = nil
    ) {
        var groups: [Phrase: Group] = [:]
        var total = 0
        for node in nodes {
            total += 1
            let phrase: Phrase
            var free: UInt64?
            do throws(PlacementRejection) {
                _ = try NodeLedger.check(requirements, on: node)
                phrase =
                    declined.map {
                        Phrase(
                            "fits but strategy \($0.strategy) declined: \($0.reason)",
                            "fit but strategy \($0.strategy) declined: \($0.reason)")
                    }
                    ?? Phrase("fits but was not placed this round", "fit but were not placed this round")
            } catch {
                (phrase, free) = Self.phrase(error, node: node, requirements: requirements)
            }
            groups[phrase, default: Group()].add(free: free)
        }
        guard total > 0 else {
            summary = "no nodes registered"
            reasons = []
            return
        }
        let ordered = groups.map { phrase, group in
            Reason(reason: phrase.render(count: group.count, largestFree: group.largestFree), nodes: group.count)
        }.sorted { ($0.nodes, $1.reason) > ($1.nodes, $0.reason) }
        reasons = ordered
        let counted = ordered.map { "\($0.nodes) \($0.reason)" }.joined(separator: ", ")
        if ordered.count == 1, let only = ordered.first, only.reason.hasPrefix("fit") {
            summary = "\(Self.nodes(total)) \(only.reason)"
        } else {
            summary = "\(Self.nodes(total)): \(counted)"
        }
    }

    /// What one rejection says, keyed so that nodes rejected alike group
    /// together; `free` is what the node has of the resource it lacks (the
    /// group reports the largest).
    private static func phrase(
        _ rejection: PlacementRejection, node: Node, requirements: JobRequirements
    ) -> (Phrase, UInt64?) {
        switch rejection {
        case .nodeNotReady(_, let state):
            return (Phrase("is \(state.rawValue)", "are \(state.rawValue)"), nil)
        case .nodeCordoned:
            return (Phrase("is cordoned", "are cordoned"), nil)
        case .archMismatch(_, let expected, let found):
            return (Phrase("is \(found), not \(expected)", "are \(found), not \(expected)"), nil)
        case .constraintUnmet(_, let key, let expected, _):
            return (Phrase("has no label \(key)=\(expected)", "have no label \(key)=\(expected)"), nil)
        case .insufficientCPU(_, let needed, let free):
            let text = "\(cores(needed)) of free CPU"
            return (Phrase("lacks \(text)", "lack \(text)", largest: .cores), free)
        case .insufficientMemory(_, let needed, let free):
            let text = "\(bytes(needed)) of free memory"
            return (Phrase("lacks \(text)", "lack \(text)", largest: .bytes), free)
        case .insufficientGPUs:
            return (gpuPhrase(requirements.gpu, node: node), nil)
        default:
            // Only a strategy's named placement can be refused otherwise.
            let text = rejection.description
            return (Phrase("is refused: \(text)", "are refused: \(text)"), nil)
        }
    }

    /// Why `node` lacks the GPUs of `request`: no GPU at all, none of the
    /// vendor, model or memory asked for, too few, or too few free.
    private static func gpuPhrase(_ request: GPURequest, node: Node) -> Phrase {
        let wanted = Int(request.count)
        let matching = node.gpus.filter { $0.matches(request) }
        let kind = gpuKind(request, plural: false)
        if matching.count >= wanted {
            let text = wanted == 1 ? "a free \(kind)" : "\(wanted) free \(gpuKind(request, plural: true))"
            return Phrase("lacks \(text)", "lack \(text)")
        }
        if node.gpus.isEmpty { return Phrase("has no GPU", "have no GPU") }
        if let vendor = request.vendor, !node.gpus.contains(where: { $0.vendor.utf8.elementsEqual(vendor.utf8) }) {
            return Phrase("has no \(vendor) GPU", "have no \(vendor) GPU")
        }
        let byModel = GPURequest(count: request.count, vendor: request.vendor, model: request.model)
        if let model = request.model, !node.gpus.contains(where: { $0.matches(byModel) }) {
            let text = "no GPU of model \(model)" + (request.vendor.map { " from \($0)" } ?? "")
            return Phrase("has \(text)", "have \(text)")
        }
        if matching.isEmpty {
            let largest = node.gpus.filter { $0.matches(byModel) }.map(\.memoryBytes).max() ?? 0
            let text = "no \(kind) (largest: \(bytes(largest)))"
            return Phrase("has \(text)", "have \(text)")
        }
        let text = "only \(matching.count) \(gpuKind(request, plural: matching.count != 1)), not \(wanted)"
        return Phrase("has \(text)", "have \(text)")
    }

    /// "GPU", "nvidia GPUs", "nvidia GPU of model H100 with ≥ 16 GiB".
    private static func gpuKind(_ request: GPURequest, plural: Bool) -> String {
        var text = (request.vendor.map { "\($0) " } ?? "") + (plural ? "GPUs" : "GPU")
        if let model = request.model { text += " of model \(model)" }
        if request.minMemoryBytes > 0 { text += " with ≥ \(bytes(request.minMemoryBytes))" }
        return text
    }

    /// "1 node", "3 nodes".
    private static func nodes(_ count: Int) -> String { count == 1 ? "1 node" : "\(count) nodes" }

    /// Bytes in binary units, rounded to one decimal below 100 of a unit
    /// (trailing ".0" dropped): "512 B", "1.5 KiB", "8 GiB", "6.2 GiB", "120 MiB".
    public static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var unit = 0
        var scaled = Double(value)
        while scaled >= 1024, unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        var text = rounded(scaled)
        if text == "1024", unit < units.count - 1 {
            unit += 1
            text = "1"
        }
        return "\(text) \(units[unit])"
    }

    /// CPU in cores: "1 core", "2 cores", "1.5 cores", "0.25 cores".
    public static func cores(_ millis: UInt64) -> String {
        let whole = millis / 1000
        var fraction = String(millis % 1000)
        guard millis % 1000 != 0 else { return whole == 1 ? "1 core" : "\(whole) cores" }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction) cores"
    }

    /// One decimal below 100, none from 100 up; a trailing ".0" dropped.
    private static func rounded(_ value: Double) -> String {
        if value >= 99.95 { return String(Int(value.rounded())) }
        let tenths = Int((value * 10).rounded())
        return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(tenths % 10)"
    }

    /// A reason's text for one node and for several, and what kind of
    /// "largest free" it reports.
    private struct Phrase: Hashable {
        enum Largest: Hashable { case none, bytes, cores }
        let singular: String
        let plural: String
        let largest: Largest

        init(_ singular: String, _ plural: String, largest: Largest = .none) {
            self.singular = singular
            self.plural = plural
            self.largest = largest
        }

        func render(count: Int, largestFree: UInt64) -> String {
            let text = count == 1 ? singular : plural
            switch largest {
            case .none: return text
            case .bytes: return "\(text) (largest free: \(PendingExplanation.bytes(largestFree)))"
            case .cores: return "\(text) (largest free: \(PendingExplanation.cores(largestFree)))"
            }
        }
    }

    private struct Group {
        var count = 0
        var largestFree: UInt64 = 0

        mutating func add(free: UInt64?) {
            count += 1
            largestFree = max(largestFree, free ?? 0)
        }
    }
}
