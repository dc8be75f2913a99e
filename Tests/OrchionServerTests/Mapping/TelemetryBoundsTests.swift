import OrchionProto
import SwiftProtobuf
import Testing

@testable import OrchionServer

/// What the server keeps of an agent's telemetry: bounded lists and names,
/// no unknown fields, whatever the agent sent.
struct TelemetryBoundsTests {
    @Test func thermalZonesAndJobUsagesAreCutToTheirLimitsAndImpossibleJobIdsDropped() throws {
        var sent = Orchion_V1_Telemetry()
        sent.thermalZones = (0..<(InputBounds.thermalZoneLimit + 10)).map { index in
            .with {
                $0.zone = "thermal_zone\(index)" + String(repeating: "z", count: 200)
                $0.type = "x86_pkg_temp"
                $0.celsius = 41.5
            }
        }
        sent.jobs = (0..<(InputBounds.jobUsageLimit + 5)).map { index in
            .with {
                $0.jobID = index == 0 ? String(repeating: "j", count: 129) : "job-\(index)"
                $0.attempt = 1
                $0.memoryBytes = 4096
                $0.source = "cgroup"
            }
        }
        var unknown = Orchion_V1_JobUsage.with { $0.jobID = "job-x" }
        try unknown.merge(serializedBytes: [0xF8, 0x07, 0x01] as [UInt8])  // field 127, varint 1
        sent.jobs.insert(unknown, at: 1)
        let kept = InputBounds.telemetry(sent, now: 1_000)
        #expect(kept.thermalZones.count == InputBounds.thermalZoneLimit)
        #expect(kept.thermalZones.allSatisfy { $0.zone.utf8.count <= InputBounds.thermalNameBytes })
        #expect(kept.thermalZones.first?.celsius == 41.5)
        #expect(kept.jobs.count == InputBounds.jobUsageLimit)
        #expect(kept.jobs.first?.jobID == "job-x")
        #expect(kept.jobs.allSatisfy { $0.unknownFields.data.isEmpty && $0.jobID.utf8.count <= 128 })
    }
}
