/// Severity of a plugin's log line.
public enum PluginLogLevel: Int32, Sendable, Hashable, Codable {
    case debug = 0
    case info, warn, error
}

/// Something a plugin instance said through its host table.
public enum PluginEvent: Sendable, Hashable {
    /// A log line.
    case log(PluginLogLevel, String)
    /// A gauge sample.
    case metric(String, Double)
}

/// Receives what plugin instances say, with the instance it came from.
/// Called synchronously inside the plugin's call, on the thread that made the
/// call (the scheduler thread for schedulers run by a `SchedulingService`),
/// never concurrently for one instance; never from a thread the plugin made.
public typealias PluginEventSink = (_ instance: String, _ event: PluginEvent) -> Void
