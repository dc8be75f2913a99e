import OrchionControl
import OrchionCore
import OrchionProto
import SwiftProtobuf

extension JobSpec {
    /// The core spec of a submitted `spec`, with the server-chosen `id`.
    /// Validation is the caller's (`validate()`).
    init(_ spec: Orchion_V1_JobSpec, id: String) {
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
    var proto: Orchion_V1_JobSpec {
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
    var proto: Orchion_V1_JobState {
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

    init?(_ state: Orchion_V1_JobState) {
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

extension AttemptRecord {
    var proto: Orchion_V1_Attempt {
        .with {
            $0.number = number
            $0.nodeID = nodeID
            $0.state = state.proto
            if let startedAt { $0.startedAt = .init(millis: startedAt) }
            if let finishedAt { $0.finishedAt = .init(millis: finishedAt) }
            $0.exitCode = exitCode
            $0.signal = signal
            $0.reason = reason
            $0.gpuIndices = gpuIndices
            $0.strategy = strategy
        }
    }

    init(_ attempt: Orchion_V1_Attempt) {
        self.init(
            number: attempt.number, nodeID: attempt.nodeID, strategy: attempt.strategy, gpuIndices: attempt.gpuIndices,
            state: JobState(attempt.state) ?? .lost)
        startedAt = attempt.hasStartedAt ? attempt.startedAt.millis : nil
        finishedAt = attempt.hasFinishedAt ? attempt.finishedAt.millis : nil
        exitCode = attempt.exitCode
        signal = attempt.signal
        reason = attempt.reason
    }
}

extension JobRecord {
    /// The job as the API shows it.
    var proto: Orchion_V1_Job {
        .with {
            $0.id = id
            $0.spec = spec.proto
            $0.state = state.proto
            $0.attempts = attempts.map(\.proto)
            $0.createdAt = .init(millis: createdAt)
            $0.updatedAt = .init(millis: updatedAt)
            $0.reason = reason
            $0.pendingReasons = pendingReasons.map { reason in
                .with {
                    $0.reason = reason.reason
                    $0.nodes = UInt32(clamping: reason.nodes)
                }
            }
        }
    }
}

extension JobChange {
    /// The event as watchers see it, numbered `sequence`.
    func proto(sequence: UInt64) -> Orchion_V1_JobEvent {
        .with {
            $0.jobID = jobID
            $0.state = state.proto
            $0.attempt = attempt
            $0.nodeID = nodeID
            $0.reason = reason
            $0.at = .init(millis: at)
            $0.exitCode = exitCode
            $0.signal = signal
            $0.sequence = sequence
        }
    }
}

extension Google_Protobuf_Duration {
    /// The longest duration a job may ask for: the most JSON can write
    /// (about 10,000 years), so every job the server keeps can be shown.
    static let jobRangeSeconds: Int64 = 315_576_000_000

    /// Whether this is a non-negative duration of at most `jobRangeSeconds`
    /// with well-formed nanoseconds.
    var isWithinJobRange: Bool {
        (0...Self.jobRangeSeconds).contains(seconds) && (0..<1_000_000_000).contains(nanos)
            && (seconds < Self.jobRangeSeconds || nanos == 0)
    }

    /// Whole milliseconds, clamped to 0 for negative durations.
    var millis: UInt64 {
        guard seconds >= 0, nanos >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        return overflow ? .max : whole.addingReportingOverflow(UInt64(nanos / 1_000_000)).partialValue
    }

    init(millis: UInt64) {
        self.init(seconds: Int64(clamping: millis / 1000), nanos: Int32((millis % 1000) * 1_000_000))
    }

    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(seconds: seconds, nanos: Int32(clamping: attoseconds / 1_000_000_000))
    }
}

extension Google_Protobuf_Timestamp {
    /// Seconds since the Unix epoch, to the nanosecond.
    var epochSeconds: Double { Double(seconds) + Double(nanos) / 1e9 }
    /// Whether JSON can write this time: 0001-01-01 to 9999-12-31 UTC,
    /// nanoseconds in 0..<10^9.
    var isWritable: Bool {
        (-62_135_596_800...253_402_300_799).contains(seconds) && (0..<1_000_000_000).contains(nanos)
    }

    init(millis: Millis) {
        self.init(seconds: millis / 1000, nanos: Int32((millis % 1000) * 1_000_000))
    }

    var millis: Millis {
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, carry) = whole.addingReportingOverflow(Millis(nanos / 1_000_000))
        return carry ? .max : sum
    }
}
