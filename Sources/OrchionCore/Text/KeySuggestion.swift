/// The known name closest to a misspelt one, for "did you mean ...?" (server
/// configuration keys, job spec fields).
///
/// Threading: pure functions; safe anywhere.
public enum KeySuggestion {
    /// The closest of `known` to `name` by edit distance, over the whole
    /// name or its last part (so `min_interval` at the top level finds
    /// `heartbeat.min_interval`); nil when none is close (more than a third
    /// of the name differs). Of equally close names, the one sharing the
    /// longest beginning with `name` wins (`gpu` finds `gpus`, not `cpu`),
    /// then the first.
    public static func closest(to name: String, among known: [String]) -> String? {
        let wanted = Array(name.lowercased())
        let wantedLeaf = Array(leaf(name).lowercased())
        var best: (name: String, distance: Int, shared: Int)?
        for candidate in known {
            let lowered = Array(candidate.lowercased())
            let whole = distance(wanted, lowered)
            let byLeaf = wantedLeaf == wanted ? distance(wanted, Array(leaf(candidate).lowercased())) : Int.max
            let score = min(whole, byLeaf)
            let shared = zip(wanted, lowered).prefix { $0 == $1 }.count
            if let best, (score, -shared) >= (best.distance, -best.shared) { continue }
            best = (candidate, score, shared)
        }
        guard let best, best.distance <= max(2, wanted.count / 3) else { return nil }
        return best.name
    }

    private static func leaf(_ name: String) -> String {
        name.lastIndex(of: ".").map { String(name[name.index(after: $0)...]) } ?? name
    }

    /// Levenshtein distance.
    public static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
