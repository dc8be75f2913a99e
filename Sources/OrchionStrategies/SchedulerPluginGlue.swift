import COrchionPlugin

/// What the built-in scheduler plugins share: the vtable functions and the
/// descriptor layout. Each plugin module owns its descriptor (a global of its
/// own image) and calls `makeDescriptor` with its strategy.
public enum SchedulerPluginGlue {
    /// One plugin instance: the placer and the host table it was given.
    final class Instance {
        var placer: Placer
        let host: UnsafePointer<orchion_host_api>

        init(_ strategy: Strategy, host: UnsafePointer<orchion_host_api>) {
            placer = Placer(strategy)
            self.host = host
        }

        /// The instance's configuration value for `key`, if set.
        func config(_ key: String) -> String? {
            key.withCString { host.pointee.config($0) }.map { String(cString: $0) }
        }
    }

    /// Builds a constant descriptor for a scheduler plugin running `strategy`.
    /// The memory lives as long as the image; call once per plugin.
    public static func makeDescriptor(
        strategy: Strategy, version: String, description: String, initialize: orchion_init_fn
    ) -> ConstantDescriptor {
        let vtable = UnsafeMutablePointer<orchion_scheduler_vtable>.allocate(capacity: 1)
        vtable.initialize(
            to: orchion_scheduler_vtable(
                struct_size: UInt32(MemoryLayout<orchion_scheduler_vtable>.size), reserved: 0,
                init: initialize, destroy: destroy, place: place))
        return .make(
            kind: ORCHION_KIND_SCHEDULER, name: strategy.rawValue, version: version, description: description,
            vtable: UnsafeRawPointer(vtable))
    }

    /// The body of each plugin's `init`: creates an instance for `strategy`.
    public static func create(
        _ strategy: Strategy, host: UnsafePointer<orchion_host_api>?,
        state: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
        error: UnsafeMutablePointer<CChar>?, errorSize: Int
    ) -> orchion_status {
        guard let host, let state else {
            copy("init called without a host table or state pointer", into: error, size: errorSize)
            return ORCHION_ERR_INVALID
        }
        let instance = Instance(strategy, host: host)
        switch instance.config("cpu_jobs_on_gpu_nodes") {
        case nil, "fallback": instance.placer.cpuJobsMayUseGPUNodes = true
        case "never": instance.placer.cpuJobsMayUseGPUNodes = false
        case let other?:
            copy(
                "config cpu_jobs_on_gpu_nodes: expected fallback or never, found \(other)", into: error, size: errorSize
            )
            return ORCHION_ERR_INVALID
        }
        state.pointee = Unmanaged.passRetained(instance).toOpaque()
        return ORCHION_OK
    }

    private static let destroy: orchion_destroy_fn = { state in
        guard let state else { return }
        Unmanaged<Instance>.fromOpaque(state).release()
    }

    private static let place:
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<orchion_cluster_view>?, UnsafePointer<orchion_job_batch>?,
            UnsafeMutablePointer<orchion_placement_batch>?, UnsafeMutablePointer<CChar>?, Int
        ) -> orchion_status = { state, cluster, batch, out, error, errorSize in
            guard let state, let cluster, let batch, let out else {
                copy("place called with a NULL argument", into: error, size: errorSize)
                return ORCHION_ERR_INVALID
            }
            let instance = Unmanaged<Instance>.fromOpaque(state).takeUnretainedValue()
            let placed = instance.placer.place(cluster: cluster, batch: batch, out: out)
            instance.host.pointee.metric("placed", Double(placed))
            instance.host.pointee.metric(
                "unschedulable", Double(min(batch.pointee.job_count, out.pointee.count) - placed))
            return ORCHION_OK
        }
}
