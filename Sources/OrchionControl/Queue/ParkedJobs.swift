import OrchionCore

/// Pending jobs that fit on no node, set aside until the cluster changes in
/// a way that could let them fit (Nomad's blocked evaluations), so they are
/// not re-placed and re-explained every round.
///
/// A job is woken when a node it passes the fit rule on appears or changes
/// (resources freed, a node back to ready, uncordoned, relabelled) — a
/// cheap arithmetic check per parked job, no plugin call — or when
/// everything is woken (a strategy was installed or the default changed).
/// A woken job goes back to the queue; its strategy may still decline it.
///
/// Threading: a value; confine it like its owner.
public struct ParkedJobs: Sendable {
    private var parked: [String: JobRequirements] = [:]

    public init() {}

    public var count: Int { parked.count }

    public func contains(_ id: String) -> Bool { parked[id] != nil }

    /// Parks job `id`, which needs `requirements`.
    public mutating func park(_ id: String, _ requirements: JobRequirements) {
        parked[id] = requirements
    }

    /// Forgets job `id` (cancelled, or placed after all).
    public mutating func remove(_ id: String) {
        parked[id] = nil
    }

    /// Wakes and returns the parked jobs that fit on one of `nodes` as they
    /// are now.
    public mutating func wake(fittingAnyOf nodes: [Node]) -> [String] {
        guard !nodes.isEmpty, !parked.isEmpty else { return [] }
        var woken: [String] = []
        for (id, requirements) in parked where nodes.contains(where: { Self.fits(requirements, $0) }) {
            woken.append(id)
        }
        for id in woken { parked[id] = nil }
        return woken
    }

    /// Wakes and returns every parked job.
    public mutating func wakeAll() -> [String] {
        defer { parked.removeAll(keepingCapacity: true) }
        return Array(parked.keys)
    }

    private static func fits(_ requirements: JobRequirements, _ node: Node) -> Bool {
        do {
            _ = try NodeLedger.check(requirements, on: node)
            return true
        } catch {
            return false
        }
    }
}
