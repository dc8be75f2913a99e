import COrchionPlugin
import OrchionCore
import OrchionLoop
import OrchionStrategies

/// How to start a job's process, as an executor plugin described it.
public struct Launch: Sendable, Hashable {
    public var file: String
    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String?
    public var user: String?
    /// At most the job's own timeout (see `timeout(spec:plugin:)`).
    public var timeoutMillis: UInt64
    /// A memory limit below the job's grant, or 0 for the grant; the agent
    /// enforces it with the job's cgroup `memory.max`.
    public var memoryLimitBytes: UInt64

    /// The timeout a job runs under: an executor may shorten the job's own
    /// timeout, never lengthen or remove it. `spec` 0 means the job has
    /// none, and then the executor's value (0: none) stands.
    public static func timeout(spec: UInt64, plugin: UInt64) -> UInt64 {
        guard spec > 0 else { return plugin }
        return plugin == 0 ? spec : min(spec, plugin)
    }
}

extension HostStop {
    /// The ABI's `orchion_stop` value.
    var cValue: orchion_stop {
        switch self {
        case .cancelled: ORCHION_STOP_CANCELLED
        case .timedOut: ORCHION_STOP_TIMED_OUT
        case .memoryLimit: ORCHION_STOP_MEMORY_LIMIT
        }
    }
}

/// One initialised instance of an executor plugin.
///
/// Threading: one thread at a time, never two calls at once (the
/// executor's own thread inside `ExecutorService`; the loop thread of
/// `orchion plugin check`).
public final class ExecutorPlugin {
    /// What the descriptor says.
    public var info: PluginInfo { core.library.info }
    /// The name events from this instance are attributed to.
    public var instance: String { core.name }
    private let core: PluginInstance
    private let functions: Functions

    /// The vtable's functions, read once within its declared size.
    private struct Functions {
        let prepare:
            @convention(c) (
                UnsafeMutableRawPointer?, UnsafePointer<orchion_exec_job>?, UnsafeMutablePointer<orchion_launch>?,
                UnsafeMutablePointer<CChar>?, Int
            ) -> orchion_status
        let release: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<orchion_launch>?) -> Void
        let classify:
            @convention(c) (
                UnsafeMutableRawPointer?, UnsafePointer<orchion_exec_job>?, UnsafePointer<orchion_exit>?,
                UnsafeMutablePointer<CChar>?, Int
            ) -> Int32
    }

    /// Most argv or environment entries accepted from a plugin.
    static let maxEntries = 65_536

    /// Runs the plugin's init with its own host table.
    public init(
        _ library: PluginLibrary, instance: String? = nil, config: [String: String] = [:],
        sink: @escaping PluginEventSink = { _, _ in }
    ) throws(PluginError) {
        let vtable = library.executorVTable
        guard let initialize = declaredField(vtable, \.`init`), let destroy = declaredField(vtable, \.destroy),
            let prepare = declaredField(vtable, \.prepare), let release = declaredField(vtable, \.release),
            let classify = declaredField(vtable, \.classify)
        else {
            throw .invalidDescriptor(
                file: library.info.file, field: "orchion_executor_vtable",
                expected: "init, destroy, prepare, release and classify within its declared size",
                found: "a NULL or missing function")
        }
        functions = Functions(prepare: prepare, release: release, classify: classify)
        core = try PluginInstance(
            library, kind: .executor, name: instance, config: config, sink: sink,
            initialize: initialize, destroy: destroy)
    }

    private var state: UnsafeMutableRawPointer? { core.state }

    /// Host callbacks this instance made that were refused (from a thread of
    /// its own, outside a call, or after destroy).
    public var refusedCallbacks: Int { core.refusedCallbacks }

    /// Asks the plugin how to start `spec` with the GPUs it was granted
    /// (device indices), and checks what it answers.
    public func prepare(_ spec: JobSpec, gpus: [UInt32] = []) throws(PluginError) -> Launch {
        try ExecJob(spec, gpus: gpus).withCJob { job throws(PluginError) in
            var launch = orchion_launch()
            launch.struct_size = UInt32(MemoryLayout<orchion_launch>.size)
            var error = PluginErrorBuffer()
            let status = core.call { error.withBuffer { functions.prepare(state, job, &launch, $0, $1) } }
            if error.overrun {
                if status == ORCHION_OK { core.call { functions.release(state, &launch) } }
                throw PluginErrorBuffer.overrunError(name: info.name, function: "prepare")
            }
            guard status == ORCHION_OK else {
                throw .callFailed(
                    name: info.name, function: "prepare", status: Int32(bitPattern: status.rawValue),
                    message: error.message)
            }
            defer { core.call { functions.release(state, &launch) } }
            var result = try read(launch)
            result.timeoutMillis = Launch.timeout(spec: spec.timeoutMillis, plugin: result.timeoutMillis)
            return result
        }
    }

    private func read(_ launch: orchion_launch) throws(PluginError) -> Launch {
        func invalid(_ what: String) -> PluginError {
            .callFailed(name: info.name, function: "prepare", status: 0, message: "invalid launch: \(what)")
        }
        guard let file = launch.file.map({ String(cString: $0) }), !file.isEmpty else {
            throw invalid("found no file, expected a program to execute")
        }
        guard let argv = launch.argv, let arguments = Self.strings(argv), !arguments.isEmpty else {
            throw invalid("found no argv or more than \(Self.maxEntries) entries, expected argv[0] at least")
        }
        guard let env = launch.env, let environment = Self.strings(env) else {
            throw invalid(
                "found no environment or more than \(Self.maxEntries) entries, expected a NULL-terminated list")
        }
        if let bad = environment.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
            throw invalid("found environment entry '\(bad.prefix(40))', expected KEY=value")
        }
        return Launch(
            file: file, arguments: arguments, environment: environment,
            workingDirectory: launch.cwd.map { String(cString: $0) }, user: launch.user.map { String(cString: $0) },
            timeoutMillis: launch.timeout_ms, memoryLimitBytes: launch.memory_limit_bytes)
    }

    private static func strings(_ list: UnsafePointer<UnsafePointer<CChar>?>) -> [String]? {
        var result: [String] = []
        while let entry = list[result.count] {
            guard result.count < maxEntries else { return nil }
            result.append(String(cString: entry))
        }
        return result
    }

    /// Asks the plugin what a finished process means. `stoppedBy` says
    /// whether the host stopped it; such a job is never retryable, whatever
    /// the plugin answers.
    public func classify(_ spec: JobSpec, status: ExitStatus, stoppedBy stop: HostStop?) -> (ExitClass, String) {
        var exit = orchion_exit(
            struct_size: UInt32(MemoryLayout<orchion_exit>.size), signal: status.signal, exit_code: status.code,
            stopped: Int32(bitPattern: (stop?.cValue ?? ORCHION_STOP_NONE).rawValue), reserved: 0)
        var reason = PluginErrorBuffer()
        let verdict = ExecJob(spec).withCJob { job in
            core.call { reason.withBuffer { functions.classify(state, job, &exit, $0, $1) } }
        }
        if reason.overrun {
            return (
                .failed,
                "\(status); plugin \(info.name) wrote past the end of its \(PluginErrorBuffer.size)-byte reason buffer"
            )
        }
        switch verdict {
        case Int32(ORCHION_EXIT_SUCCEEDED.rawValue): return (.succeeded, reason.message)
        case Int32(ORCHION_EXIT_FAILED.rawValue): return (.failed, reason.message)
        case Int32(ORCHION_EXIT_RETRYABLE.rawValue):
            guard let stop else { return (.retryable, reason.message) }
            return (
                .failed,
                "\(reason.message); the host stopped the job (\(stop.rawValue)), so it is not retryable, "
                    + "whatever plugin \(info.name) says"
            )
        default: return (.failed, "\(status); plugin \(info.name) returned exit class \(verdict), expected 0, 1 or 2")
        }
    }
}

/// A job spec in the C layout an executor reads.
private struct ExecJob {
    let spec: JobSpec
    let gpus: [UInt32]

    init(_ spec: JobSpec, gpus: [UInt32] = []) {
        self.spec = spec
        self.gpus = gpus
    }

    func withCJob<T, E: Error>(_ body: (UnsafePointer<orchion_exec_job>) throws(E) -> T) throws(E) -> T {
        let strings = CStrings()
        let environment = spec.env.sorted { $0.key < $1.key }
            .map { orchion_kv(key: strings.keep($0.key), value: strings.keep($0.value)) }
        let argv = spec.argv.isEmpty ? nil : strings.keep(spec.argv)
        let resources = spec.requirements.resources
        var job = orchion_exec_job(
            struct_size: UInt32(MemoryLayout<orchion_exec_job>.size), env_size: UInt32(MemoryLayout<orchion_kv>.stride),
            id: strings.keep(spec.id), command: spec.command.map(strings.keep),
            argv: argv, argc: spec.argv.count, env: nil, env_count: environment.count,
            cwd: spec.cwd.map(strings.keep), user: spec.user.map(strings.keep), timeout_ms: spec.timeoutMillis,
            resources: orchion_resources(
                cpu_millis: resources.cpuMillis, memory_bytes: resources.memoryBytes, gpus: resources.gpus, reserved: 0),
            gpus: nil, gpu_count: gpus.count)
        return try withExtendedLifetime(strings) { () throws(E) -> T in
            try environment.withUnsafeBufferPointer { env throws(E) -> T in
                try gpus.withUnsafeBufferPointer { gpus throws(E) -> T in
                    job.env = env.isEmpty ? nil : env.baseAddress
                    job.gpus = gpus.isEmpty ? nil : gpus.baseAddress
                    return try body(&job)
                }
            }
        }
    }
}
