// swift-tools-version:6.1
import PackageDescription

/// A built-in plugin: its own shared object, built from `Plugins/<folder>`.
func plugin(_ product: String, target: String, folder: String) -> (Product, Target) {
    (
        .library(name: product, type: .dynamic, targets: [target]),
        .target(
            name: target,
            dependencies: ["COrchionPlugin", "OrchionStrategies"],
            path: "Plugins/\(folder)"
        )
    )
}

let builtins = [
    plugin("orchion-round-robin", target: "RoundRobinScheduler", folder: "round-robin"),
    plugin("orchion-bin-packing", target: "BinPackingScheduler", folder: "bin-packing"),
    plugin("orchion-spread", target: "SpreadScheduler", folder: "spread"),
    plugin("orchion-gpu-affinity", target: "GPUAffinityScheduler", folder: "gpu-affinity"),
    plugin("orchion-exec", target: "ExecExecutor", folder: "exec"),
]

/// The libFuzzer entry executable, `orchion-fuzz`, running the harness that
/// `ORCHION_FUZZ_TARGET` names (Tests/Fuzz). Only in the package when
/// ORCHION_FUZZ=1 (set by `.ci/fuzz`, which builds it with
/// `-sanitize=fuzzer,address`): its `main` runs libFuzzer's driver, which
/// only that build links in.
let fuzzing = Context.environment["ORCHION_FUZZ"] == "1"
let fuzzEntries: [(Product, Target)] =
    fuzzing
    ? [
        (
            .executable(name: "orchion-fuzz", targets: ["orchion-fuzz"]),
            .executableTarget(
                name: "orchion-fuzz", dependencies: ["FuzzHarness"], path: "Tests/Fuzz/Entry",
                swiftSettings: [.enableExperimentalFeature("Extern")])
        )
    ] : []

let package = Package(
    name: "orchion",
    products: [
        .executable(name: "orchion", targets: ["orchion"]),
        .executable(name: "orchion-bench", targets: ["orchion-bench"]),
        .executable(name: "orchion-spawn", targets: ["orchion-spawn"]),
        .executable(name: "orchion-agent", targets: ["orchion-agent"]),
    ] + builtins.map(\.0) + fuzzEntries.map(\.0),
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // No traits: the default ones (BinaryDelimitedStreams, FieldMaskUtilities)
        // import Foundation, which links Foundation, CoreFoundation and ICU
        // into every binary, the agent's included (see docs/benchmarks.md).
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0", traits: []),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        .systemLibrary(name: "COrchionPlugin"),
        .systemLibrary(name: "CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "OrchionCore"),
        .target(name: "OrchionLoop", dependencies: ["OrchionCore", "CLibUV"]),
        .target(name: "OrchionStrategies", dependencies: ["COrchionPlugin"]),
        .target(name: "OrchionProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(
            name: "OrchionWire",
            dependencies: [
                "OrchionCore", "OrchionLoop", "OrchionProto", "CHTTPParser", "CNGHTTP2", "COpenSSL",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(
            name: "OrchionPluginHost",
            dependencies: ["OrchionCore", "OrchionLoop", "OrchionStrategies", "COrchionPlugin", "CFFI"]
        ),
        .target(name: "OrchionControl", dependencies: ["OrchionCore"]),
        .target(
            name: "OrchionMapping",
            dependencies: [
                "OrchionCore", "OrchionProto", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .systemLibrary(name: "COrchionAgent"),
        .target(
            name: "OrchionAgent", dependencies: ["OrchionCore", "OrchionLoop", "OrchionPluginHost", "COrchionAgent"]),
        .target(
            name: "OrchionAgentProto",
            dependencies: [
                "OrchionAgent", "OrchionProto", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The agent daemon (`orchion agent run`): the stream to the server,
        // the journal and spool, running assignments. Apart from
        // `OrchionAgent` because it needs the wire and SwiftProtobuf (which
        // link Foundation); discovery, telemetry and execution do not.
        .target(
            name: "OrchionAgentDaemon",
            dependencies: [
                "OrchionAgent", "OrchionAgentProto", "OrchionCore", "OrchionMapping", "OrchionLoop",
                "OrchionPluginHost",
                "OrchionProto",
                "OrchionWire", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // `orchion-agent`: the agent daemon on its own (what a Raspberry Pi
        // runs), built from the agent's modules only, with the built-in
        // `exec` executor linked in. deploy/build-agent.sh builds it as a
        // host without Swift runs it, with the link options measured in
        // docs/benchmarks.md ("The agent's footprint").
        .executableTarget(
            name: "orchion-agent",
            dependencies: ["OrchionAgentDaemon", "OrchionCore", "OrchionPluginHost", "ExecExecutor"]
        ),
        // The agent's exec helper (C, no runtime): joins the job's cgroup,
        // sets its user's groups and ids, then execs the job. swiftc links
        // every executable with the Swift runtime, which this helper would
        // load and relocate once per job for nothing (1.2 ms of CPU a job
        // here): -nostartfiles leaves out the Swift image registration (the
        // only reference to the runtime) and -static-executable links what
        // is left, the C library, statically (no dynamic loader either).
        .executableTarget(
            name: "orchion-spawn", linkerSettings: [.unsafeFlags(["-static-executable", "-nostartfiles"])]),
        // The dashboard's built files (generated by sdk/dashboard/build.sh)
        // and the site that serves them on the API's port.
        .target(name: "COrchionDashboard"),
        .target(name: "OrchionDashboard", dependencies: ["COrchionDashboard", "OrchionWire"]),
        .target(
            name: "OrchionServer",
            dependencies: [
                "OrchionCore", "OrchionControl", "OrchionMapping", "OrchionLoop", "OrchionProto", "OrchionWire",
                "OrchionPluginHost", "OrchionDashboard",
                "CSQLite", "COpenSSL", .product(name: "Yams", package: "Yams"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // YAML job specs (`orchion job submit FILE`): checked against the
        // JSON Schema generated from the proto descriptors, mapped to requests.
        .target(
            name: "OrchionJobSpec",
            dependencies: [
                "OrchionCore", "OrchionMapping", "OrchionProto", .product(name: "Yams", package: "Yams"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "orchion",
            dependencies: [
                "OrchionPluginHost", "OrchionCore", "OrchionLoop", "OrchionWire", "OrchionProto", "OrchionServer",
                "OrchionAgent", "OrchionAgentProto", "OrchionAgentDaemon", "OrchionJobSpec",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "orchion-bench",
            dependencies: [
                "OrchionPluginHost", "OrchionStrategies", "OrchionCore", "COrchionPlugin", "OrchionWire",
                "OrchionProto",
                "OrchionLoop", "OrchionServer", "OrchionAgent", "OrchionAgentProto",
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // A real `orchion server` for tests, and the control API client they use.
        .target(
            name: "ClusterTestSupport",
            dependencies: [
                "TestSupport", "OrchionWire", "OrchionProto", "OrchionLoop",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Tests/ClusterTestSupport"
        ),
        .testTarget(name: "OrchionCoreTests", dependencies: ["OrchionCore"]),
        .testTarget(name: "OrchionLoopTests", dependencies: ["OrchionLoop", "OrchionCore", "TestSupport"]),
        .testTarget(
            name: "OrchionPluginHostTests",
            dependencies: ["OrchionPluginHost", "OrchionStrategies", "OrchionCore", "OrchionLoop", "TestSupport"]
        ),
        .testTarget(
            name: "OrchionWireTests",
            dependencies: ["OrchionWire", "OrchionProto", "OrchionLoop", "TestSupport"]
        ),
        .testTarget(name: "OrchionControlTests", dependencies: ["OrchionControl", "OrchionCore", "TestSupport"]),
        .testTarget(
            name: "OrchionAgentTests",
            dependencies: [
                "OrchionAgent", "OrchionAgentProto", "OrchionProto", "OrchionCore", "OrchionPluginHost", "OrchionLoop",
                "TestSupport",
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "OrchionServerTests",
            dependencies: [
                "OrchionServer", "OrchionControl", "OrchionCore", "OrchionLoop", "OrchionProto", "OrchionWire",
                "TestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "OrchionJobSpecTests",
            dependencies: [
                "OrchionJobSpec", "OrchionCore", "OrchionMapping", "OrchionProto", "OrchionServer", "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "AgentDaemonTests",
            dependencies: [
                "OrchionAgentDaemon", "ClusterTestSupport", "OrchionWire", "OrchionProto", "OrchionLoop", "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ClusterTestSupport",
                "OrchionWire", "OrchionProto", "OrchionLoop", "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "DashboardTests",
            dependencies: ["OrchionDashboard", "OrchionWire", "ClusterTestSupport", "TestSupport"],
            exclude: ["browser"]
        ),
        // The `orchion` client commands, run as a user runs them.
        .testTarget(name: "CLITests", dependencies: ["ClusterTestSupport", "TestSupport"]),
        // TLS on the API port with real clients (curl, openssl s_client,
        // grpcio, the agent) against the real binary, and the CA's files.
        .testTarget(
            name: "TLSTests",
            dependencies: [
                "ClusterTestSupport", "OrchionServer", "OrchionWire", "OrchionLoop", "TestSupport",
            ]
        ),
        .target(
            name: "FuzzHarness",
            dependencies: [
                "OrchionWire", "OrchionProto", "OrchionLoop", "OrchionPluginHost", "COrchionPlugin",
                "OrchionJobSpec", "OrchionMapping", "OrchionCore", "OrchionServer",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Tests/Fuzz/Harness"
        ),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzHarness"]),
    ] + builtins.map(\.1) + fuzzEntries.map(\.1)
)
