/// An executor's verdict on a finished process. Values match the plugin
/// ABI's `ORCHION_EXIT_*` constants in order; the protobuf schema has no
/// counterpart yet (an attempt records its exit code, signal and reason).
public enum ExitClass: String, Sendable, Hashable, Codable, CaseIterable {
    /// The job did what it was asked.
    case succeeded
    /// The job failed; trying again would not help.
    case failed
    /// The job failed in a way another attempt may fix.
    case retryable
}

/// Why the host, not the process, ended an attempt.
public enum HostStop: String, Sendable, Hashable, Codable, CaseIterable {
    /// A user cancelled the job.
    case cancelled
    /// It ran past its spec's timeout.
    case timedOut
    /// The kernel killed it at the memory limit the host set for it (its
    /// cgroup's `memory.max`).
    case memoryLimit
}
