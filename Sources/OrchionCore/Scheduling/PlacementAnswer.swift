/// A scheduler's raw answer for one job, before the host has checked it.
///
/// Threading: a value; safe anywhere.
public enum PlacementAnswer: Sendable, Hashable {
    /// The job goes to the node at this view index, taking these node-local
    /// GPU indices (empty: the host picks the GPUs). Not yet validated.
    case node(Int64, gpuIndices: [UInt32])
    /// The scheduler claimed to name more GPUs than the host gave it room for.
    case tooManyGPUs(node: Int64, named: UInt32)
    /// The scheduler found no node; its reason.
    case unschedulable(String)

    /// The job goes to the node at this view index; the host picks any GPUs.
    public static func node(_ index: Int64) -> PlacementAnswer { .node(index, gpuIndices: []) }
}
