import OrchionCore
import OrchionLoop

/// An executor plugin instance on a thread of its own, so its `init`,
/// `prepare`, `release`, `classify` and `destroy` never run on the I/O loop
/// thread: a slow executor delays only the jobs waiting on it.
///
/// The instance is called from that one thread, one call at a time, in the
/// order the calls were made. `JobRunner.start` uses it.
///
/// Threading: every method may be called from any thread; results are
/// handed to callbacks on the executor's thread (hop to your loop from
/// there). `shutdown` blocks until queued calls are done.
public final class ExecutorService: Sendable {
    /// What the descriptor says.
    public let info: PluginInfo
    private let thread: SchedulerThread
    private let box: Box

    /// The instance, touched only on `thread`.
    private final class Box: @unchecked Sendable {
        var plugin: ExecutorPlugin?
    }

    /// Starts a thread and runs the plugin's `init` on it.
    public init(
        _ library: PluginLibrary, instance: String? = nil, config: [String: String] = [:],
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }
    ) async throws(PluginError) {
        info = library.info
        do {
            thread = try SchedulerThread()
        } catch {
            throw .callFailed(name: library.info.name, function: "init", status: -1, message: error.description)
        }
        let box = Box()
        self.box = box
        let created: Result<Void, PluginError> = await withCheckedContinuation { [thread] continuation in
            thread.submit {
                do throws(PluginError) {
                    box.plugin = try ExecutorPlugin(library, instance: instance, config: config, sink: sink)
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        try created.get()
    }

    deinit { shutdown() }

    /// Asks the plugin how to start `spec` with `gpus`; `then` runs on the
    /// executor's thread with the checked launch or the plugin's refusal.
    public func prepare(
        _ spec: JobSpec, gpus: [UInt32] = [], then: @escaping @Sendable (Result<Launch, PluginError>) -> Void
    ) {
        let accepted = thread.submit { [box, info] in
            guard let plugin = box.plugin else { return then(.failure(Self.stopped(info))) }
            do throws(PluginError) {
                then(.success(try plugin.prepare(spec, gpus: gpus)))
            } catch {
                then(.failure(error))
            }
        }
        if !accepted { then(.failure(Self.stopped(info))) }
    }

    /// Asks the plugin what a finished process means (see
    /// `ExecutorPlugin.classify`); `then` runs on the executor's thread.
    public func classify(
        _ spec: JobSpec, status: ExitStatus, stoppedBy stop: HostStop?,
        then: @escaping @Sendable ((ExitClass, String)) -> Void
    ) {
        let accepted = thread.submit { [box, info] in
            guard let plugin = box.plugin else { return then((.failed, "\(status); \(Self.stopped(info))")) }
            then(plugin.classify(spec, status: status, stoppedBy: stop))
        }
        if !accepted { then((.failed, "\(status); \(Self.stopped(info))")) }
    }

    /// Finishes the queued calls, destroys the instance on its thread, and
    /// stops the thread. Idempotent.
    public func shutdown() {
        thread.submit { [box] in box.plugin = nil }
        thread.shutdown()
    }

    private static func stopped(_ info: PluginInfo) -> PluginError {
        .callFailed(name: info.name, function: "call", status: -1, message: "the executor has been shut down")
    }
}
