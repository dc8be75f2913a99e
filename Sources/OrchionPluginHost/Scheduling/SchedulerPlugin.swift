import COrchionPlugin
import OrchionCore

extension PlacementAnswer {
    /// Reads a C answer. The reason is cut at its first NUL or before the
    /// buffer's last byte, whichever comes first, so an unterminated buffer
    /// is never overrun.
    init(_ raw: orchion_placement, from strategy: String) {
        guard raw.node_index == -1 else {
            self = .node(raw.node_index)
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
/// Threading: loop thread only; one call at a time.
public final class SchedulerPlugin {
    /// What the descriptor says.
    public var info: PluginInfo { core.library.info }
    /// The name events from this instance are attributed to.
    public var instance: String { core.name }
    private let core: PluginInstance
    private let buffer = PlacementBuffer()

    /// Runs the plugin's init with its own host table.
    public init(
        _ library: PluginLibrary, instance: String? = nil, config: [String: String] = [:],
        sink: @escaping PluginEventSink = { _, _ in }
    ) throws(PluginError) {
        let vtable = library.schedulerVTable.pointee
        core = try PluginInstance(
            library, kind: .scheduler, name: instance, config: config, sink: sink,
            initialize: vtable.`init`, destroy: vtable.destroy)
    }

    /// Asks the plugin to place `batch` against `view`. Returns one raw
    /// answer per job in batch order; the caller must validate them.
    public func place(_ batch: JobBatch, in view: ClusterView) throws(PluginError) -> [PlacementAnswer] {
        try buffer.collect(batch.jobs.count, strategy: info.name) { out throws(PluginError) in
            var error = PluginErrorBuffer()
            let status = view.withCView { cluster in
                batch.withCBatch { jobs in
                    error.withBuffer {
                        core.library.schedulerVTable.pointee.place(core.state, cluster, jobs, out, $0, $1)
                    }
                }
            }
            guard status == ORCHION_OK else {
                throw .callFailed(
                    name: info.name, function: "place", status: Int32(bitPattern: status.rawValue),
                    message: error.message)
            }
        }
    }
}
