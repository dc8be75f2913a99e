import COrchionPlugin
import OrchionCore

extension PlacementAnswer {
    /// Reads a C answer; `room` is the GPU room the host gave it (read from
    /// the host's own record, not the answer's pointer). The reason is cut at
    /// its first NUL or before the buffer's last byte, whichever comes first,
    /// so an unterminated buffer is never overrun.
    init(_ raw: orchion_placement, gpus room: UnsafeBufferPointer<UInt32>, from strategy: String) {
        guard raw.node_index == -1 else {
            let named = Int(raw.gpu_count)
            self =
                named <= room.count
                ? .node(raw.node_index, gpuIndices: Array(room.prefix(named)))
                : .tooManyGPUs(node: raw.node_index, named: raw.gpu_count)
            return
        }
        let reason = withUnsafeBytes(of: raw.reason) { bytes in
            String(decoding: bytes.prefix(Int(ORCHION_REASON_MAX) - 1).prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self = .unschedulable(reason.isEmpty ? "no reason given by \(strategy)" : reason)
    }
}

/// One initialised instance of a scheduler plugin.
///
/// Threading: one thread at a time, never two calls at once. A
/// `SchedulingService` creates, calls and releases it on its scheduler
/// thread, so plugin code never runs on the I/O loop thread.
public final class SchedulerPlugin {
    /// What the descriptor says.
    public var info: PluginInfo { core.library.info }
    /// The name events from this instance are attributed to.
    public var instance: String { core.name }
    private let core: PluginInstance
    private let buffer = PlacementBuffer()
    private let placeFunction:
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<orchion_cluster_view>?, UnsafePointer<orchion_job_batch>?,
            UnsafeMutablePointer<orchion_placement_batch>?, UnsafeMutablePointer<CChar>?, Int
        ) -> orchion_status

    /// Runs the plugin's init with its own host table, on the calling thread.
    public init(
        _ library: PluginLibrary, instance: String? = nil, config: [String: String] = [:],
        sink: @escaping PluginEventSink = { _, _ in }
    ) throws(PluginError) {
        let vtable = library.schedulerVTable
        guard let initialize = declaredField(vtable, \.`init`), let destroy = declaredField(vtable, \.destroy),
            let place = declaredField(vtable, \.place)
        else {
            throw .invalidDescriptor(
                file: library.info.file, field: "orchion_scheduler_vtable",
                expected: "init, destroy and place within its declared size", found: "a NULL or missing function")
        }
        placeFunction = place
        core = try PluginInstance(
            library, kind: .scheduler, name: instance, config: config, sink: sink,
            initialize: initialize, destroy: destroy)
    }

    /// Host callbacks this instance made that were refused (from a thread of
    /// its own, outside a call, or after destroy).
    public var refusedCallbacks: Int { core.refusedCallbacks }

    /// Asks the plugin to place `batch` against `view`. Returns one raw
    /// answer per job in batch order; the caller must validate them.
    /// A plugin that writes past the end of its placements, GPU room or error
    /// buffer hits a guard the host checks; the call then fails, naming it.
    public func place(_ batch: JobBatch, in view: ClusterView) throws(PluginError) -> [PlacementAnswer] {
        let answers = try buffer.collect(batch, strategy: info.name) { out throws(PluginError) in
            var error = PluginErrorBuffer()
            let status = view.withCView { cluster in
                batch.withCBatch { jobs in
                    error.withBuffer { message, size in
                        core.call { placeFunction(core.state, cluster, jobs, out, message, size) }
                    }
                }
            }
            if error.overrun { throw PluginErrorBuffer.overrunError(name: info.name, function: "place") }
            guard status == ORCHION_OK else {
                throw .callFailed(
                    name: info.name, function: "place", status: Int32(bitPattern: status.rawValue),
                    message: error.message)
            }
        }
        if let overrun = buffer.overrun {
            throw .callFailed(
                name: info.name, function: "place", status: 0,
                message: "wrote past the end of \(overrun); its answers are discarded")
        }
        return answers
    }
}
