// orchion-bench: measures placement throughput of every built-in strategy
// through the plugin C ABI and called directly in Swift, in the same run.
//
// Usage: orchion-bench [--quick] [--plugins DIR] [--c-plugin FILE]
//        orchion-bench serve      (the API server for .ci/bench's wrk and h2load runs)
//        orchion-bench store [--quick]  (durable submissions/s: group commit vs one commit per submit)
//        orchion-bench store-child MODE DIR  (processes the store's tests start)
//        orchion-bench control [--quick] [--agents 1000,5000,10000]  (the control plane end to end:
//            the real orchion server as a child, simulated agents over the real protocol)
//        orchion-bench logs [--quick] [--bytes N] [--runs N]  (job stdout → agent → server → log file,
//            beside a raw pipe + loopback TCP copy of the same bytes)
//        orchion-bench e2e [--quick] [--jobs N] [--latency N] [--clock PROGRAM]  (jobs end to end: the real
//            server and two real agents as children; jobs/s and submit → started latency, see .ci/e2e)
//        orchion-bench notify STATE...  (sd_notify from the environment, for the systemd tests)
// Prints a Markdown table. Build with -c release.
import Glibc
import OrchionCore
import OrchionPluginHost
import OrchionStrategies

struct Options {
    var quick = false
    var pluginDirectory = ""
    var cPlugin: String?

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": quick = true
            case "--plugins": pluginDirectory = rest.popFirst() ?? ""
            case "--c-plugin": cPlugin = rest.popFirst()
            default: fatalError("unknown option \(argument)")
            }
        }
        if pluginDirectory.isEmpty { pluginDirectory = PluginDirectory.executableDirectory() ?? "." }
    }
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Resident set size of this process in KiB.
func residentKiB() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmRSS:") { return Int(text.split(separator: " ")[1]) ?? 0 }
    }
    return 0
}

/// Placements per second of `round` (which places `batchSize` jobs), best of
/// `trials` runs of at least `seconds` each.
func throughput(batchSize: Int, seconds: Double, trials: Int, _ round: () -> Int) -> (Double, Int) {
    var best = 0.0
    var placed = 0
    for _ in 0..<trials {
        var rounds = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            placed = round()
            rounds += 1
            elapsed = now() - start
        } while elapsed < seconds
        best = max(best, Double(rounds * batchSize) / elapsed)
    }
    return (best, placed)
}

if CommandLine.arguments.dropFirst().first == "serve" {
    try serveForBenchmark()
}
if CommandLine.arguments.dropFirst().first == "store-child" {
    storeChild(Array(CommandLine.arguments.dropFirst(2)))
}
if CommandLine.arguments.dropFirst().first == "control" {
    controlBenchmark(Array(CommandLine.arguments.dropFirst(2)))
}
if CommandLine.arguments.dropFirst().first == "logs" {
    logBenchmark(Array(CommandLine.arguments.dropFirst(2)))
}
if CommandLine.arguments.dropFirst().first == "e2e" {
    endToEndBenchmark(Array(CommandLine.arguments.dropFirst(2)))
}
if CommandLine.arguments.dropFirst().first == "notify" {
    notifyChild(Array(CommandLine.arguments.dropFirst(2)))
}
if CommandLine.arguments.dropFirst().first == "store" {
    try storeBenchmark(quick: CommandLine.arguments.contains("--quick"))
    exit(0)
}
let options = Options(CommandLine.arguments)
let seconds = options.quick ? 0.1 : 0.5
let trials = options.quick ? 1 : 3
let baseRSS = residentKiB()

var libraries: [Strategy: PluginLibrary] = [:]
for strategy in Strategy.allCases {
    libraries[strategy] = try PluginLibrary.open("\(options.pluginDirectory)/liborchion-\(strategy.rawValue).so")
}
let pluginsRSS = residentKiB()

print(
    "| strategy | nodes | batch | via C ABI (placements/s) | direct Swift (placements/s) | ABI overhead | via ABI + host validation (placements/s) | placed/batch |"
)
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for nodeCount in [1_000, 10_000] {
    let view = ClusterView(capacity: nodeCount)
    try SyntheticCluster.nodes(nodeCount).forEach(view.upsert)
    let batchSize = 100
    let batch = JobBatch(SyntheticCluster.jobs(batchSize))
    for strategy in Strategy.allCases {
        let plugin = try SchedulerPlugin(libraries[strategy]!)
        let direct = BuiltinScheduler(strategy)
        let guarded = GuardedScheduler(plugin)
        // Interleave the three so machine noise hits them alike.
        var viaABI = 0.0
        var viaSwift = 0.0
        var validated = 0.0
        var placed = 0
        for _ in 0..<trials {
            viaABI = max(
                viaABI,
                throughput(batchSize: batchSize, seconds: seconds, trials: 1) {
                    (try? plugin.place(batch, in: view))?.count ?? 0
                }.0)
            viaSwift = max(
                viaSwift,
                throughput(batchSize: batchSize, seconds: seconds, trials: 1) {
                    direct.place(batch, in: view).count
                }.0)
            let (rate, count) = throughput(batchSize: batchSize, seconds: seconds, trials: 1) {
                guarded.schedule(batch, in: view).assignments.count
            }
            validated = max(validated, rate)
            placed = count
        }
        let overhead = (viaSwift / viaABI - 1) * 100
        print(
            "| \(strategy.rawValue) | \(nodeCount) | \(batchSize) | \(Int(viaABI)) | \(Int(viaSwift)) | \(String(format1: overhead))% | \(Int(validated)) | \(placed) |"
        )
    }
}

// The boundary itself: an empty batch on an empty cluster does no placement
// work, so what remains is the cost of one call (marshalling, the function
// pointer, the plugin's glue and its two libffi metric callbacks).
print("")
print(
    "| per-call cost, empty batch and cluster | via C ABI (ns/call) | direct Swift (ns/call) | difference (ns/call) |")
print("|---|---:|---:|---:|")
do {
    let empty = ClusterView()
    let none = JobBatch([])
    for strategy in [Strategy.binPacking] {
        let plugin = try SchedulerPlugin(libraries[strategy]!)
        let direct = BuiltinScheduler(strategy)
        var viaABI = 0.0
        var viaSwift = 0.0
        for _ in 0..<trials {
            viaABI = max(
                viaABI,
                throughput(batchSize: 1, seconds: seconds, trials: 1) {
                    (try? plugin.place(none, in: empty))?.count ?? 0
                }.0)
            viaSwift = max(
                viaSwift,
                throughput(batchSize: 1, seconds: seconds, trials: 1) {
                    direct.place(none, in: empty).count
                }.0)
        }
        let (abiNanos, swiftNanos) = (1e9 / viaABI, 1e9 / viaSwift)
        print("| \(strategy.rawValue) | \(Int(abiNanos)) | \(Int(swiftNanos)) | \(Int(abiNanos - swiftNanos)) |")
    }
}

var cRSS: Int?
if let file = options.cPlugin {
    let before = residentKiB()
    _ = try PluginLibrary.open(file)
    cRSS = residentKiB() - before
}
print("")
print("| memory (this process, dynamically linked Swift host) | RSS KiB |")
print("|---|---:|")
print("| host at start | \(baseRSS) |")
print("| + 4 Swift scheduler plugins loaded (runtime shared with the host) | +\(pluginsRSS - baseRSS) |")
if let cRSS { print("| + the C example plugin loaded | +\(cRSS) |") }

extension String {
    init(format1 value: Double) {
        let scaled = (value * 10).rounded() / 10
        self = scaled == scaled.rounded() ? "\(Int(scaled)).0" : "\(scaled)"
    }
}
