import OrchionControl

/// What the control plane's behaviour depends on, from the configuration.
///
/// Threading: a value; safe anywhere.
struct PlaneSettings: Sendable {
    var heartbeat = HeartbeatPolicy()
    /// Jobs sent to a strategy in one call.
    var batchSize = 256
    /// Job events kept for watchers resuming with `after=`.
    var eventRetention = 50_000
    /// The strategy for jobs that name none.
    var defaultStrategy = "bin-packing"
    /// How long a node stays listed after it went down with no job left on
    /// it (Nomad collects down nodes after a day too); then it is forgotten,
    /// and registers anew if it ever comes back.
    var downNodeRetention: Duration = .seconds(24 * 3600)
    /// Event numbers reserved ahead in the store: after a crash the sequence
    /// resumes past every number a watcher may have seen.
    var eventSequenceBlock: UInt64 = 10_000
    /// The built-in strategy that places what a failing strategy could not.
    var fallbackStrategy = "bin-packing"
}
