import Glibc
import OrchionCore
import OrchionProto
import SwiftProtobuf

extension JobSpec {
    /// The core spec of an assigned job (the server's own mapping, mirrored:
    /// the agent does not link the server).
    init(wire spec: Orchion_V1_JobSpec, id: String) {
        let gpu = GPURequest(
            count: spec.gpu.count, vendor: spec.gpu.vendor, model: spec.gpu.model,
            minMemoryBytes: spec.gpu.minMemoryBytes)
        self.init(
            id: id, name: spec.name, command: spec.command.isEmpty ? nil : spec.command, argv: spec.argv,
            env: spec.env, cwd: spec.cwd.isEmpty ? nil : spec.cwd, user: spec.user.isEmpty ? nil : spec.user,
            timeoutMillis: spec.hasTimeout ? Self.millis(spec.timeout) : 0,
            retry: RetryPolicy(
                maxAttempts: spec.retry.maxAttempts,
                backoffMillis: spec.retry.hasBackoff ? Self.millis(spec.retry.backoff) : 0),
            requirements: JobRequirements(
                cpuMillis: spec.resources.cpuMillis, memoryBytes: spec.resources.memoryBytes, gpu: gpu,
                arch: spec.arch, constraints: spec.constraints, priority: spec.priority),
            strategy: spec.strategy.isEmpty ? nil : spec.strategy,
            executor: spec.executor.isEmpty ? nil : spec.executor)
    }

    /// A duration in whole milliseconds, 0 when negative.
    static func millis(_ duration: Google_Protobuf_Duration) -> UInt64 {
        guard duration.seconds >= 0, duration.nanos >= 0 else { return 0 }
        let (whole, overflow) = UInt64(duration.seconds).multipliedReportingOverflow(by: 1000)
        return overflow ? UInt64.max : whole &+ UInt64(duration.nanos / 1_000_000)
    }
}

extension Orchion_V1_JobState {
    init(_ state: JobState) {
        switch state {
        case .pending: self = .pending
        case .scheduled: self = .scheduled
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .lost: self = .lost
        }
    }
}

/// The wall clock as a protobuf timestamp.
func wallClock() -> Google_Protobuf_Timestamp {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    var stamp = Google_Protobuf_Timestamp()
    stamp.seconds = Int64(time.tv_sec)
    stamp.nanos = Int32(time.tv_nsec)
    return stamp
}

/// Milliseconds of a monotonic clock.
func monotonicMillis() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1000 &+ UInt64(time.tv_nsec / 1_000_000)
}
