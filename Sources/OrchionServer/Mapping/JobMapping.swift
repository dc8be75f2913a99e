import OrchionControl
import OrchionCore
import OrchionMapping
import OrchionProto
import SwiftProtobuf

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
            $0.submittedBy = submittedBy ?? ""
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
