import OrchionProto

/// A job spec for tests: `sh -c command` with these needs.
func spec(
    _ command: String = "true", cpu: UInt64 = 100, memory: UInt64 = 1 << 20, gpus: UInt32 = 0,
    priority: Int32 = 0, strategy: String = "", constraints: [String: String] = [:], maxAttempts: UInt32 = 1
) -> Orchion_V1_JobSpec {
    .with {
        $0.command = command
        $0.resources = .with {
            $0.cpuMillis = cpu
            $0.memoryBytes = memory
        }
        $0.gpu = .with { $0.count = gpus }
        $0.priority = priority
        $0.strategy = strategy
        $0.constraints = constraints
        if maxAttempts > 1 { $0.retry = .with { $0.maxAttempts = maxAttempts } }
    }
}
