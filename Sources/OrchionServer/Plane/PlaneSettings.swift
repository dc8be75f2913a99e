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
    /// The built-in strategy that places what a failing strategy could not.
    var fallbackStrategy = "bin-packing"
}
