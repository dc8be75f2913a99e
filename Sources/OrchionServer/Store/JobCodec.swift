import OrchionControl
import OrchionCore
import OrchionMapping
import OrchionProto
import SwiftProtobuf

/// How a job record is stored: version byte 1, then the API's `Job`
/// message (spec, state, attempts, reasons) length-prefixed, then what only
/// the server needs back after a restart (retry due time, a cancel not yet
/// confirmed by the agent). The submitter (`Job.submitted_by`) travels in
/// the message: records written before it existed decode without one.
enum JobCodec {
    static func encode(_ job: JobRecord) -> [UInt8] {
        var bytes: [UInt8] = [1]
        let message: [UInt8] = (try? job.proto.serializedBytes()) ?? []
        append(UInt64(message.count), to: &bytes)
        bytes += message
        append(UInt64(bitPattern: job.retryAt ?? -1), to: &bytes)
        let cancel = Array((job.cancelReason ?? "").utf8)
        bytes.append(job.cancelReason == nil ? 0 : 1)
        append(UInt64(cancel.count), to: &bytes)
        bytes += cancel
        return bytes
    }

    /// The record stored as `stored`, or nil when its bytes are not a record
    /// this version wrote.
    static func decode(_ stored: StoredJob) -> JobRecord? {
        var reader = ByteReader(stored.record)
        guard reader.byte() == 1, let length = reader.integer(), let message = reader.bytes(length),
            let job = try? Orchion_V1_Job(serializedBytes: message), let retry = reader.integer(),
            let hasCancel = reader.byte(), let cancelLength = reader.integer(), let cancel = reader.bytes(cancelLength),
            let state = JobState(job.state)
        else { return nil }
        let retryAt = Int64(bitPattern: retry)
        return JobRecord(
            spec: JobSpec(job.spec, id: job.id),
            requestID: stored.requestID.map(StoredJob.requestID(fromKey:)), order: stored.order,
            createdAt: job.createdAt.millis, state: state, attempts: job.attempts.map(AttemptRecord.init),
            updatedAt: job.updatedAt.millis, reason: job.reason, retryAt: retryAt < 0 ? nil : retryAt,
            cancelReason: hasCancel == 1 ? String(decoding: cancel, as: UTF8.self) : nil,
            submittedBy: job.submittedBy.isEmpty ? nil : job.submittedBy)
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// Reads little-endian fields from stored bytes, nil past the end.
struct ByteReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func integer() -> UInt64? {
        guard bytes.count - position >= 8 else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[position + index]) << UInt64(8 * index) }
        position += 8
        return value
    }

    mutating func bytes(_ count: UInt64) -> [UInt8]? {
        guard count <= UInt64(bytes.count - position) else { return nil }
        defer { position += Int(count) }
        return Array(bytes[position..<position + Int(count)])
    }
}

/// How a node is stored: the API's `Node` (hardware, labels, capacity,
/// operator state) as of its last registration or operator change.
enum NodeCodec {
    static func encode(_ entry: NodeEntry) -> [UInt8] {
        var node = entry.proto(jobs: 0, withHistory: false)
        node.capacity = entry.registeredCapacity
        node.telemetry = Orchion_V1_Telemetry()
        // `cordoned` shows either choice; keep them apart in the labels-free extras.
        node.state = entry.record.draining ? .draining : .ready
        node.cordoned = entry.record.cordoned
        return (try? node.serializedBytes()) ?? []
    }
}
