import OrchionCore
import OrchionProto
import SwiftProtobuf

// The one mapping between OrchionCore's types and the schema's messages,
// shared by the server and the agent.

extension JobSpec {
    /// The core spec of a submitted `spec`, with the server-chosen `id`.
    /// Validation is the caller's (`validate()`).
    public init(_ spec: Orchion_V1_JobSpec, id: String) {
        let gpu = GPURequest(
            count: spec.gpu.count, vendor: spec.gpu.vendor, model: spec.gpu.model,
            minMemoryBytes: spec.gpu.minMemoryBytes)
        self.init(
            id: id, name: spec.name, command: spec.command.isEmpty ? nil : spec.command, argv: spec.argv,
            env: spec.env, cwd: spec.cwd.isEmpty ? nil : spec.cwd, user: spec.user.isEmpty ? nil : spec.user,
            timeoutMillis: spec.hasTimeout ? spec.timeout.millis : 0,
            retry: RetryPolicy(
                maxAttempts: spec.retry.maxAttempts,
                backoffMillis: spec.retry.hasBackoff ? spec.retry.backoff.millis : 0),
            requirements: JobRequirements(
                cpuMillis: spec.resources.cpuMillis, memoryBytes: spec.resources.memoryBytes, gpu: gpu,
                arch: spec.arch, constraints: spec.constraints, priority: spec.priority),
            strategy: spec.strategy.isEmpty ? nil : spec.strategy,
            executor: spec.executor.isEmpty ? nil : spec.executor)
    }

    /// The schema's form.
    public var proto: Orchion_V1_JobSpec {
        .with {
            $0.name = name
            $0.command = command ?? ""
            $0.argv = argv
            $0.env = env
            $0.cwd = cwd ?? ""
            $0.user = user ?? ""
            $0.resources = .with {
                $0.cpuMillis = requirements.resources.cpuMillis
                $0.memoryBytes = requirements.resources.memoryBytes
                $0.gpus = requirements.gpu.count
            }
            $0.gpu = .with {
                $0.count = requirements.gpu.count
                $0.vendor = requirements.gpu.vendor ?? ""
                $0.model = requirements.gpu.model ?? ""
                $0.minMemoryBytes = requirements.gpu.minMemoryBytes
            }
            $0.arch = requirements.arch ?? ""
            $0.constraints = requirements.constraints
            $0.strategy = strategy ?? ""
            $0.executor = executor ?? ""
            $0.priority = requirements.priority
            if retry != .never {
                $0.retry = .with {
                    $0.maxAttempts = retry.maxAttempts
                    if retry.backoffMillis > 0 { $0.backoff = .init(millis: retry.backoffMillis) }
                }
            }
            if timeoutMillis > 0 { $0.timeout = .init(millis: timeoutMillis) }
        }
    }
}

extension JobState {
    /// The schema's form.
    public var proto: Orchion_V1_JobState {
        switch self {
        case .pending: .pending
        case .scheduled: .scheduled
        case .running: .running
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        case .lost: .lost
        }
    }

    /// The core state, or nil for `UNSPECIFIED` and unknown numbers.
    public init?(_ state: Orchion_V1_JobState) {
        switch state {
        case .pending: self = .pending
        case .scheduled: self = .scheduled
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .lost: self = .lost
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }
}

extension NodeState {
    /// The schema's form.
    public var proto: Orchion_V1_NodeState {
        switch self {
        case .ready: .ready
        case .draining: .draining
        case .suspect: .suspect
        case .down: .down
        }
    }
}

extension Google_Protobuf_Duration {
    /// The longest duration a job may ask for: the most JSON can write
    /// (about 10,000 years), so every job the server keeps can be shown.
    public static let jobRangeSeconds: Int64 = 315_576_000_000

    /// Whether this is a non-negative duration of at most `jobRangeSeconds`
    /// with well-formed nanoseconds.
    public var isWithinJobRange: Bool {
        (0...Self.jobRangeSeconds).contains(seconds) && (0..<1_000_000_000).contains(nanos)
            && (seconds < Self.jobRangeSeconds || nanos == 0)
    }

    /// Whole milliseconds, clamped to 0 for negative durations (saturating).
    public var millis: UInt64 {
        guard seconds >= 0, nanos >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        let (sum, carry) = whole.addingReportingOverflow(UInt64(nanos / 1_000_000))
        return overflow || carry ? .max : sum
    }

    /// A duration of whole milliseconds.
    public init(millis: UInt64) {
        self.init(seconds: Int64(clamping: millis / 1000), nanos: Int32((millis % 1000) * 1_000_000))
    }

    /// A Swift duration, to the nanosecond.
    public init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(seconds: seconds, nanos: Int32(clamping: attoseconds / 1_000_000_000))
    }
}

extension Google_Protobuf_Timestamp {
    /// Seconds since the Unix epoch, to the nanosecond.
    public var epochSeconds: Double { Double(seconds) + Double(nanos) / 1e9 }
    /// Whether JSON can write this time: 0001-01-01 to 9999-12-31 UTC,
    /// nanoseconds in 0..<10^9.
    public var isWritable: Bool {
        (-62_135_596_800...253_402_300_799).contains(seconds) && (0..<1_000_000_000).contains(nanos)
    }

    /// A time in milliseconds since the Unix epoch.
    public init(millis: Int64) {
        self.init(seconds: millis / 1000, nanos: Int32((millis % 1000) * 1_000_000))
    }

    /// Milliseconds since the Unix epoch (saturating).
    public var millis: Int64 {
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, carry) = whole.addingReportingOverflow(Int64(nanos / 1_000_000))
        return carry ? .max : sum
    }
}
