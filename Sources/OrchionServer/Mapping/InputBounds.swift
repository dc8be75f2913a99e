import OrchionControl
import OrchionCore
import OrchionMapping
import OrchionProto
import SwiftProtobuf

/// How much of what agents and clients send the server keeps: text and
/// telemetry from the network are cut to these sizes before they reach a
/// job, an event, a node or the store, so one peer cannot make every later
/// listing, event and commit carry megabytes.
///
/// Threading: constants and pure functions; safe anywhere.
enum InputBounds {
    /// The longest reason an agent may give for an attempt's end, in bytes
    /// (a job keeps every attempt's: 1,000 attempts stay near 1 MB).
    static let agentReasonBytes = 1024
    /// The longest reason a client may give for a cancel, in bytes.
    static let cancelReasonBytes = 1024
    /// The largest job spec a client may submit, serialized: well below
    /// the 4 MiB message limit, so an assignment (the job with its attempts)
    /// always fits in one message to the agent. Kubernetes bounds its
    /// objects near this size too.
    static let specBytes = 1 << 20
    /// The most bytes of jobs one ListJobs page holds (a page has at least
    /// one job, which `specBytes` and the attempt limit keep near 2 MB), so
    /// a page stays under the 4 MiB a gRPC client takes by default.
    static let pageBytes = 3 << 20
    /// The largest capabilities a node may register with, serialized.
    static let capabilitiesBytes = 256 << 10

    /// The most thermal zones a telemetry sample keeps (a big server has
    /// a few dozen).
    static let thermalZoneLimit = 64
    /// The most per-job usages a telemetry sample keeps.
    static let jobUsageLimit = 4096
    /// The longest thermal zone name or type kept, in bytes.
    static let thermalNameBytes = 64

    /// `telemetry` with at most `Node.gpuLimit` GPU samples,
    /// `thermalZoneLimit` zones (names cut to `thermalNameBytes`) and
    /// `jobUsageLimit` job usages (only those of ids and sources a job could
    /// have: ids of at most 128 bytes), no unknown fields, and a sample time JSON can write (else
    /// `now`, when it came).
    static func telemetry(_ telemetry: Orchion_V1_Telemetry, now: Millis) -> Orchion_V1_Telemetry {
        var kept = telemetry
        if kept.hasSampledAt, !kept.sampledAt.isWritable { kept.sampledAt = .init(millis: now) }
        if kept.gpus.count > Node.gpuLimit { kept.gpus.removeLast(kept.gpus.count - Node.gpuLimit) }
        kept.unknownFields = UnknownStorage()
        for index in kept.gpus.indices { kept.gpus[index].unknownFields = UnknownStorage() }
        kept.sampledAt.unknownFields = UnknownStorage()
        kept.thermalZones = kept.thermalZones.prefix(thermalZoneLimit).map { zone in
            .with {
                $0.zone = zone.zone.prefix(utf8Bytes: thermalNameBytes)
                $0.type = zone.type.prefix(utf8Bytes: thermalNameBytes)
                $0.celsius = zone.celsius
            }
        }
        kept.jobs = kept.jobs.lazy.filter { $0.jobID.utf8.count <= 128 && $0.source.utf8.count <= 16 }
            .prefix(jobUsageLimit).map { usage in
                var clean = usage
                clean.unknownFields = UnknownStorage()
                return clean
            }
        return kept
    }
}

extension String {
    /// The longest prefix of at most `limit` UTF-8 bytes that ends on a
    /// Unicode scalar boundary.
    func prefix(utf8Bytes limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var bytes = 0
        var kept = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            let size = UTF8.width(scalar)
            guard bytes + size <= limit else { break }
            bytes += size
            kept.append(scalar)
        }
        return String(kept)
    }
}
