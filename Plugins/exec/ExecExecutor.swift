import COrchionPlugin
import Glibc
import OrchionStrategies

/// The built-in "exec" executor: runs a shell command (`/bin/sh -c`) or an
/// argv directly, with a clean environment (PATH, HOME, ORCHION_JOB_ID and
/// the job's own variables — never the agent's, which may hold secrets),
/// the job's working directory, user and timeout. A job granted GPUs gets
/// their device indices in ORCHION_GPUS and CUDA_VISIBLE_DEVICES.
///
/// Config key: `path` (PATH for jobs). Memory and CPU limits are the
/// agent's: it enforces the job's grant with a cgroup v2 made before the
/// process starts, so `memory_limit_bytes` stays 0.
private final class ExecInstance {
    let path: String

    init(path: String) {
        self.path = path
    }
}

private func string(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }

private let initialize: orchion_init_fn = { host, state, error, errorSize in
    guard let host, let state else { return ORCHION_ERR_INVALID }
    func config(_ key: String) -> String? { string(key.withCString { host.pointee.config($0) }) }
    if let limit = config("memory_limit") {
        copy(
            "config memory_limit: found \(limit), expected no such key: the agent enforces a job's memory grant "
                + "with its cgroup", into: error, size: errorSize)
        return ORCHION_ERR_INVALID
    }
    let instance = ExecInstance(
        path: config("path") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    state.pointee = Unmanaged.passRetained(instance).toOpaque()
    return ORCHION_OK
}

private let destroy: orchion_destroy_fn = { state in
    if let state { Unmanaged<ExecInstance>.fromOpaque(state).release() }
}

private let prepare:
    @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<orchion_exec_job>?, UnsafeMutablePointer<orchion_launch>?,
        UnsafeMutablePointer<CChar>?, Int
    ) -> orchion_status = { state, job, launch, error, errorSize in
        guard let state, let job = job?.pointee, let launch else { return ORCHION_ERR_INVALID }
        let instance = Unmanaged<ExecInstance>.fromOpaque(state).takeUnretainedValue()
        let argv: [String]
        if let command = string(job.command), !command.isEmpty {
            argv = ["/bin/sh", "-c", command]
        } else if job.argc > 0, let first = string(job.argv[0]), !first.isEmpty {
            argv = (0..<job.argc).map { string(job.argv[$0]) ?? "" }
        } else {
            copy(
                "job \(string(job.id) ?? "?"): expected a command or an argv, found neither", into: error,
                size: errorSize)
            return ORCHION_ERR_INVALID
        }
        var environment = [
            "PATH": instance.path, "ORCHION_JOB_ID": string(job.id) ?? "",
            "HOME": string(job.cwd) ?? "/",
        ]
        if job.gpu_count > 0, let gpus = job.gpus {
            let list = (0..<job.gpu_count).map { String(gpus[$0]) }.joined(separator: ",")
            environment["ORCHION_GPUS"] = list
            environment["CUDA_VISIBLE_DEVICES"] = list
        }
        for index in 0..<(job.env == nil ? 0 : job.env_count) {
            guard let env = job.env else { break }
            let pair = UnsafeRawPointer(env).advanced(by: Int(job.env_size) * index)
                .assumingMemoryBound(to: orchion_kv.self).pointee
            if let key = string(pair.key), let value = string(pair.value) {
                environment[key] = value
            }
        }
        let storage = CStrings()
        launch.pointee.file = storage.keep(argv[0])
        launch.pointee.argv = storage.keep(argv)
        launch.pointee.env = storage.keep(environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        launch.pointee.cwd = string(job.cwd).map(storage.keep)
        launch.pointee.user = string(job.user).map(storage.keep)
        launch.pointee.timeout_ms = job.timeout_ms
        launch.pointee.memory_limit_bytes = 0
        launch.pointee.plugin_data = Unmanaged.passRetained(storage).toOpaque()
        return ORCHION_OK
    }

private let release: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<orchion_launch>?) -> Void = {
    _, launch in
    guard let data = launch?.pointee.plugin_data else { return }
    Unmanaged<CStrings>.fromOpaque(data).release()
    launch?.pointee.plugin_data = nil
}

/// A job the host stopped (cancelled, timed out, or killed at the memory
/// limit the host set) fails, whatever its status: its SIGTERM/SIGKILL came
/// from Orchion or from the limit. Otherwise exit 0 succeeds;
/// death by SIGKILL/SIGTERM that Orchion did not cause (OOM killer, shutdown)
/// and exit 75 (EX_TEMPFAIL) are retryable; anything else fails.
private let classify:
    @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<orchion_exec_job>?, UnsafePointer<orchion_exit>?,
        UnsafeMutablePointer<CChar>?, Int
    ) -> Int32 = { _, job, exit, reason, reasonSize in
        guard let exit = exit?.pointee else { return Int32(ORCHION_EXIT_FAILED.rawValue) }
        let verdict: (orchion_exit_class, String)
        if exit.stopped == Int32(ORCHION_STOP_TIMED_OUT.rawValue) {
            verdict = (ORCHION_EXIT_FAILED, "timed out after \(job?.pointee.timeout_ms ?? 0) ms")
        } else if exit.stopped == Int32(ORCHION_STOP_CANCELLED.rawValue) {
            verdict = (ORCHION_EXIT_FAILED, "cancelled")
        } else if exit.stopped == Int32(ORCHION_STOP_MEMORY_LIMIT.rawValue) {
            verdict = (
                ORCHION_EXIT_FAILED,
                "killed at its memory limit (\(job?.pointee.resources.memory_bytes ?? 0) bytes granted)"
            )
        } else if exit.stopped != Int32(ORCHION_STOP_NONE.rawValue) {
            verdict = (ORCHION_EXIT_FAILED, "stopped by the host (reason \(exit.stopped))")
        } else if exit.signal == SIGKILL || exit.signal == SIGTERM {
            verdict = (ORCHION_EXIT_RETRYABLE, "killed by signal \(exit.signal)")
        } else if exit.signal != 0 {
            verdict = (ORCHION_EXIT_FAILED, "killed by signal \(exit.signal)")
        } else if exit.exit_code == 0 {
            verdict = (ORCHION_EXIT_SUCCEEDED, "exited with code 0")
        } else if exit.exit_code == 75 {
            verdict = (ORCHION_EXIT_RETRYABLE, "exited with code 75 (temporary failure)")
        } else {
            verdict = (ORCHION_EXIT_FAILED, "exited with code \(exit.exit_code)")
        }
        copy(verdict.1, into: reason, size: reasonSize)
        return Int32(verdict.0.rawValue)
    }

private let descriptor: ConstantDescriptor = {
    let vtable = UnsafeMutablePointer<orchion_executor_vtable>.allocate(capacity: 1)
    vtable.initialize(
        to: orchion_executor_vtable(
            struct_size: UInt32(MemoryLayout<orchion_executor_vtable>.size), reserved: 0,
            init: initialize, destroy: destroy, prepare: prepare, release: release, classify: classify))
    return .make(
        kind: ORCHION_KIND_EXECUTOR, name: "exec", version: "1.0.0",
        description: "Runs a command or argv as a process with env, cwd, user and timeout",
        vtable: UnsafeRawPointer(vtable))
}()

/// The plugin's entry point (see orchion/plugin.h).
@_cdecl("orchion_plugin_entry")
public func orchionPluginEntry() -> UnsafePointer<orchion_plugin_descriptor> { descriptor.pointer }
