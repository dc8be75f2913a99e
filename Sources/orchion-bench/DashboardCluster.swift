// `orchion-bench dashboard-cluster [--agents N] [--jobs N]`: a cluster to
// measure the dashboard against (sdk/dashboard/bench.py) and to take its
// screenshots with. Starts the real `orchion server` as a child on
// 127.0.0.1, connects N simulated agents over the real protocol (a mix of
// hardware: GPU servers, desktops, Raspberry Pis with Hailo and Coral
// accelerators), beating once a second each, and submits J jobs: the fleet
// runs most at once; one in ten asks for a label no node has and stays
// pending. Then prints `READY PORT TOKEN` and serves until its standard
// input closes.
import Glibc
import OrchionLoop
import OrchionProto
import OrchionWire

/// The hardware of simulated node `index`: a repeating mix of a homelab's machines.
func homelabHardware(_ index: Int) -> Orchion_V1_Capabilities {
    func gpu(_ vendor: String, _ model: String, _ gib: UInt64, _ number: Int) -> Orchion_V1_GPU {
        .with {
            $0.vendor = vendor
            $0.model = model
            $0.memoryBytes = gib << 30
            $0.index = UInt32(number)
        }
    }
    return .with {
        $0.os = "Linux 6.1.0"
        $0.executors = ["exec"]
        $0.agentVersion = "0.1.0"
        switch index % 6 {
        case 0:
            $0.arch = "x86_64"
            $0.cpuModel = "AMD EPYC 7443P"
            $0.cpuCores = 48
            $0.memoryBytes = 256 << 30
            $0.gpus = (0..<4).map { gpu("nvidia", "NVIDIA A100-SXM4-80GB", 80, $0) }
        case 1:
            $0.arch = "x86_64"
            $0.cpuModel = "Intel Core i7-12700"
            $0.cpuCores = 20
            $0.memoryBytes = 64 << 30
            $0.gpus = [gpu("nvidia", "NVIDIA GeForce RTX 4090", 24, 0)]
        case 2:
            $0.arch = "x86_64"
            $0.cpuModel = "AMD Ryzen 9 7950X"
            $0.cpuCores = 32
            $0.memoryBytes = 128 << 30
            $0.gpus = [gpu("amd", "AMD Radeon RX 7900 XTX", 24, 0)]
        case 3:
            $0.arch = "aarch64"
            $0.cpuModel = "Raspberry Pi 5 Model B Rev 1.0"
            $0.cpuCores = 4
            $0.memoryBytes = 8 << 30
            $0.accelerators = [
                .with {
                    $0.kind = "npu"
                    $0.model = "Hailo-8L"
                    $0.count = 1
                }
            ]
        case 4:
            $0.arch = "aarch64"
            $0.cpuModel = "Raspberry Pi 4 Model B Rev 1.5"
            $0.cpuCores = 4
            $0.memoryBytes = 4 << 30
            $0.accelerators = [
                .with {
                    $0.kind = "edgetpu"
                    $0.model = "Coral USB Accelerator"
                    $0.count = 1
                }
            ]
        default:
            $0.arch = "x86_64"
            $0.cpuModel = "Intel Core i5-8500T"
            $0.cpuCores = 6
            $0.memoryBytes = 32 << 30
        }
    }
}

func dashboardCluster(_ arguments: [String]) -> Never {
    var agents = 8
    var jobs = 40
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        switch (argument, rest.popFirst().flatMap { Int($0) }) {
        case ("--agents", let count?) where count > 0: agents = count
        case ("--jobs", let count?) where count >= 0: jobs = count
        default:
            writeLine(2, "orchion-bench dashboard-cluster: expected --agents N and --jobs N, found \(argument)\n")
            exit(2)
        }
    }
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] {
        Glibc.signal(signal) { _ in
            killServerChild()
            _exit(130)
        }
    }
    let scratch = makeScratchDirectory("orchion-dashboard-cluster")
    let done = CountingSemaphore(0)
    Task {
        do {
            try raiseOpenFileLimit(to: agents + 512)
            let server = try ServerChild(
                scratch: scratch, label: "dashboard",
                environment: [
                    "ORCHION_HEARTBEAT_MIN_INTERVAL": "1s",
                    "ORCHION_HEARTBEAT_MAX_HEARTBEATS_PER_SECOND": "1000000",
                    "ORCHION_WIRE_MAX_CONNECTIONS": "\(max(4096, agents + 256))",
                ])
            let fleet = try AgentFleet(loopThreads: 4)
            try await fleet.connect(
                agents, prefix: "node", server: server.address, timeout: 300, hardware: homelabHardware)
            fleet.startHeartbeats()
            let loop = try LoopThread()
            let control = try await GRPCClient.connect(
                loop: loop.loop, to: server.address, token: ServerChild.clientToken)
            for index in 0..<jobs {
                let _: Orchion_V1_Job = try await control.unary(
                    "/orchion.v1.ControlService/SubmitJob",
                    Orchion_V1_SubmitJobRequest.with {
                        $0.spec = .with {
                            $0.name = index % 10 == 9 ? "needs-a-tpu-\(index)" : "batch-\(index)"
                            $0.command = "python3 step.py --shard \(index)"
                            $0.resources = .with {
                                $0.cpuMillis = 500
                                $0.memoryBytes = 256 << 20
                            }
                            if index % 10 == 9 { $0.constraints = ["accelerator": "tpu-v5"] }
                        }
                    })
            }
            writeLine(1, "READY \(server.port) \(ServerChild.clientToken)\n")
            // Serve until the reader of our output closes our input.
            var byte: UInt8 = 0
            while read(0, &byte, 1) > 0 {}
            server.stop()
        } catch {
            writeLine(2, "orchion-bench dashboard-cluster: \(error)\n")
        }
        done.post()
    }
    done.wait()
    killServerChild()
    removeTree(scratch)
    exit(0)
}
