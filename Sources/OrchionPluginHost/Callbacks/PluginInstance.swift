import COrchionPlugin

/// What every initialised plugin instance holds, whatever its kind: the
/// library, its own host table, and the state its `init` returned. Calls
/// `destroy` when released (never after a failed `init`).
///
/// Every call into the plugin goes through `call`, so the host table accepts
/// `log` and `metric` only from the calling thread while the call runs.
///
/// Threading: one thread at a time — the thread that created it, or one it
/// was handed to (the scheduler thread); never two calls at once.
final class PluginInstance {
    let library: PluginLibrary
    let name: String
    let state: UnsafeMutableRawPointer?
    private let table: HostTable
    private let destroy: orchion_destroy_fn?

    /// Runs `initialize` with a fresh host table for instance `name`.
    init(
        _ library: PluginLibrary, kind: PluginKind, name: String?, config: [String: String],
        sink: @escaping PluginEventSink, initialize: orchion_init_fn, destroy: orchion_destroy_fn
    ) throws(PluginError) {
        precondition(library.info.kind == kind, "\(library.info.name) is not a \(kind.rawValue)")
        self.library = library
        self.name = name ?? library.info.name
        let table = try HostTable(instance: self.name, config: config, sink: sink)
        self.table = table
        var state: UnsafeMutableRawPointer?
        var error = PluginErrorBuffer()
        let status = table.call { error.withBuffer { initialize(table.api, &state, $0, $1) } }
        if error.overrun {
            if status == ORCHION_OK { table.call { destroy(state) } }
            self.state = nil
            self.destroy = nil
            throw .initFailed(
                file: library.info.file, name: library.info.name, status: Int32(bitPattern: status.rawValue),
                message: "wrote past the end of its \(PluginErrorBuffer.size)-byte error buffer")
        }
        guard status == ORCHION_OK else {
            self.state = nil
            self.destroy = nil  // the ABI: no destroy after a failed init
            throw .initFailed(
                file: library.info.file, name: library.info.name, status: Int32(bitPattern: status.rawValue),
                message: error.message)
        }
        self.state = state
        self.destroy = destroy
    }

    /// Runs `body`, which calls into the plugin, under the host table's thread rule.
    func call<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try table.call(body)
    }

    /// Host callbacks this instance made that were refused (wrong thread,
    /// outside a call, after destroy).
    var refusedCallbacks: Int { table.callbacks.refused }

    deinit {
        if let destroy { table.call { destroy(state) } }
    }
}
