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
/// Jobs are woken in the queue's order (higher priority first, then
/// submission order) and no more than the nodes can take together: each
/// woken job is set aside on the first node it fits (a `NodeLedger` per
/// node), so a node that freed room for one job wakes one, not every parked
/// job that would fit alone. Without that, a full cluster with thousands of
/// jobs parked re-placed and re-explained all of them at every job's end.
/// Jobs with the same requirements share a bucket kept in queue order, so a
/// wake costs one fit check per bucket and node plus one per job woken.
/// `wake(fittingAnyOf:parkedBefore:)` lets the owner offer room a strategy
/// left unused to the jobs parked before that, once each.
///
/// Threading: a value; confine it like its owner.
public struct ParkedJobs: Sendable {
    private struct Entry: Sendable {
        var requirements: JobRequirements
        var order: UInt64
        var sequence: UInt64
    }

    /// Job ids with one set of requirements, by (submission order, park sequence).
    private struct Bucket: Sendable {
        var members: [(order: UInt64, sequence: UInt64, id: String)] = []

        func position(of order: UInt64, _ sequence: UInt64) -> Int {
            var low = 0
            var high = members.count
            while low < high {
                let middle = (low + high) / 2
                let member = members[middle]
                if (member.order, member.sequence) < (order, sequence) { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    private var parked: [String: Entry] = [:]
    private var buckets: [JobRequirements: Bucket] = [:]
    private var nextSequence: UInt64 = 0

    public init() {}

    public var count: Int { parked.count }

    /// The number the next job parked gets: jobs parked from now on are not
    /// "parked before" it.
    public var sequence: UInt64 { nextSequence }

    public func contains(_ id: String) -> Bool { parked[id] != nil }

    /// Parks job `id`, which needs `requirements` and was submitted
    /// `order`th (the queue's order; ties go by when they were parked).
    public mutating func park(_ id: String, _ requirements: JobRequirements, order: UInt64 = 0) {
        remove(id)
        let entry = Entry(requirements: requirements, order: order, sequence: nextSequence)
        nextSequence &+= 1
        parked[id] = entry
        var bucket = buckets.removeValue(forKey: requirements) ?? Bucket()
        bucket.members.insert(
            (entry.order, entry.sequence, id), at: bucket.position(of: entry.order, entry.sequence))
        buckets[requirements] = bucket
    }

    /// Forgets job `id` (cancelled, or placed after all).
    public mutating func remove(_ id: String) {
        guard let entry = parked.removeValue(forKey: id) else { return }
        guard var bucket = buckets.removeValue(forKey: entry.requirements) else { return }
        let at = bucket.position(of: entry.order, entry.sequence)
        if at < bucket.members.count, bucket.members[at].id == id { bucket.members.remove(at: at) }
        if !bucket.members.isEmpty { buckets[entry.requirements] = bucket }
    }

    /// Wakes and returns, in queue order, the parked jobs that fit on
    /// `nodes` as they are now, together: each one woken takes its share of
    /// the first node it fits on. With `parkedBefore`, only jobs parked
    /// before that `sequence` are considered.
    public mutating func wake(fittingAnyOf nodes: [Node], parkedBefore: UInt64? = nil) -> [String] {
        guard !nodes.isEmpty, !parked.isEmpty else { return [] }
        let limit = parkedBefore ?? .max
        var ledgers = [NodeLedger](repeating: NodeLedger(), count: nodes.count)
        // Buckets that fit somewhere alone, each with its next member to try.
        var active: [(requirements: JobRequirements, next: Int)] = buckets.keys.compactMap { requirements in
            nodes.contains(where: { Self.fits(requirements, $0) }) ? (requirements, 0) : nil
        }
        var woken: [String] = []
        while true {
            // The next job in queue order among the active buckets' heads.
            var best: (slot: Int, member: (order: UInt64, sequence: UInt64, id: String))?
            var slot = 0
            while slot < active.count {
                let (requirements, next) = active[slot]
                let members = buckets[requirements]?.members ?? []
                var index = next
                while index < members.count, members[index].sequence >= limit { index += 1 }
                guard index < members.count else {
                    active.remove(at: slot)
                    continue
                }
                active[slot].next = index
                let member = members[index]
                if let current = best {
                    let currentPriority = active[current.slot].requirements.priority
                    if (-requirements.priority, member.order, member.sequence)
                        < (-currentPriority, current.member.order, current.member.sequence)
                    {
                        best = (slot, member)
                    }
                } else {
                    best = (slot, member)
                }
                slot += 1
            }
            guard let (slot, member) = best else { break }
            let requirements = active[slot].requirements
            var admitted = false
            for index in nodes.indices {
                do {
                    _ = try ledgers[index].admit(requirements, on: nodes[index])
                    admitted = true
                    break
                } catch {
                    continue
                }
            }
            if admitted {
                woken.append(member.id)
                active[slot].next += 1
            } else {
                // The same requirements fit nowhere now: nor does the rest of the bucket.
                active.remove(at: slot)
            }
        }
        for id in woken { remove(id) }
        return woken
    }

    /// Wakes and returns every parked job.
    public mutating func wakeAll() -> [String] {
        let woken = parked.sorted { ($0.value.order, $0.value.sequence) < ($1.value.order, $1.value.sequence) }
            .map(\.key)
        parked.removeAll(keepingCapacity: true)
        buckets.removeAll(keepingCapacity: true)
        return woken
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
