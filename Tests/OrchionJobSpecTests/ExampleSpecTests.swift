import Foundation
import OrchionJobSpec
import OrchionProto
import SwiftProtobuf
import TestSupport
import Testing

/// The specs in docs/examples load, pass the schema and the server's checks,
/// and become exactly these requests.
@Suite struct ExampleSpecTests {
    private static func example(_ name: String) -> String {
        Paths.root.appendingPathComponent("docs/examples/\(name)").path
    }

    private static let gib: UInt64 = 1 << 30

    @Test func cpuJobBecomesAShellCommandWithCPUMemoryRetryAndTimeout() throws {
        let requests = try JobSpecFile.load(path: Self.example("cpu-job.yaml"))
        let expected = Orchion_V1_SubmitJobRequest.with {
            $0.spec = .with {
                $0.name = "compress-logs"
                $0.command = "tar -czf logs.tar.gz --directory /var/log/app ."
                $0.cwd = "/srv/archive"
                $0.env = ["GZIP": "-9"]
                $0.resources = .with {
                    $0.cpuMillis = 2000
                    $0.memoryBytes = 4 * Self.gib
                }
                $0.retry = .with {
                    $0.maxAttempts = 3
                    $0.backoff = .init(seconds: 30)
                }
                $0.timeout = .init(seconds: 600)
            }
        }
        #expect(requests == [expected])
    }

    @Test func gpuJobAsksForOneNvidiaGPUByModelAndMemory() throws {
        let requests = try JobSpecFile.load(path: Self.example("gpu-job.yaml"))
        let expected = Orchion_V1_SubmitJobRequest.with {
            $0.spec = .with {
                $0.name = "train-resnet"
                $0.argv = ["python3", "train.py", "--epochs", "10", "--batch-size", "256"]
                $0.cwd = "/srv/ml/resnet"
                $0.env = ["PYTHONUNBUFFERED": "1"]
                $0.resources = .with {
                    $0.cpuMillis = 8000
                    $0.memoryBytes = 32 * Self.gib
                }
                $0.gpu = .with {
                    $0.count = 1
                    $0.vendor = "nvidia"
                    $0.model = "RTX 4090"
                    $0.minMemoryBytes = 20 * Self.gib
                }
                $0.strategy = "gpu-affinity"
                $0.priority = 10
                $0.timeout = .init(seconds: 12 * 3600)
            }
        }
        #expect(requests == [expected])
    }

    @Test func piJobIsBoundToAarch64AndALabel() throws {
        let requests = try JobSpecFile.load(path: Self.example("pi-job.yaml"))
        let expected = Orchion_V1_SubmitJobRequest.with {
            $0.spec = .with {
                $0.name = "read-sensors"
                $0.command = "python3 read_sensors.py --once"
                $0.cwd = "/home/pi/sensors"
                $0.user = "pi"
                $0.arch = "aarch64"
                $0.constraints = ["role": "sensor-hub"]
                $0.resources = .with {
                    $0.cpuMillis = 500
                    $0.memoryBytes = 256 << 20
                }
                $0.timeout = .init(seconds: 90)
            }
        }
        #expect(requests == [expected])
    }

    @Test func arrayJobBecomesEightCopiesEachToldItsIndex() throws {
        let requests = try JobSpecFile.load(path: Self.example("array-job.yaml"))
        #expect(requests.count == 8)
        for (index, request) in requests.enumerated() {
            let expected = Orchion_V1_SubmitJobRequest.with {
                $0.spec = .with {
                    $0.name = "render-frames[\(index)]"
                    $0.command = "./render.sh --shard \"$ORCHION_ARRAY_INDEX\" --of \"$ORCHION_ARRAY_COUNT\""
                    $0.cwd = "/srv/render"
                    $0.env = ["ORCHION_ARRAY_INDEX": "\(index)", "ORCHION_ARRAY_COUNT": "8"]
                    $0.resources = .with {
                        $0.cpuMillis = 1000
                        $0.memoryBytes = 3 * Self.gib / 2
                    }
                }
                $0.requestID = "render-2026-11-29[\(index)]"
            }
            #expect(request == expected)
        }
    }

    @Test func allExamplesLoadTogetherInFileOrder() throws {
        let names = ["cpu-job.yaml", "gpu-job.yaml", "pi-job.yaml", "array-job.yaml"]
        let documents = try JobSpecFile.loadDocuments(paths: names.map(Self.example))
        #expect(documents.map { URL(fileURLWithPath: $0.file).lastPathComponent } == names)
        #expect(documents.map(\.requests.count) == [1, 1, 1, 8])
        // Each document starts at its `apiVersion`, after the editor modeline and the comment.
        #expect(documents.map(\.line) == [4, 5, 4, 6])
    }
}
