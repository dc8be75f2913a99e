import COrchionPlugin

/// What every initialised plugin instance holds, whatever its kind: the
/// library, its own host table, and the state its `init` returned. Calls
/// `destroy` when released.
///
/// Threading: loop thread only.
final class PluginInstance {
    let library: PluginLibrary
    let name: String
    let state: UnsafeMutableRawPointer?
    private let table: HostTable
    private let destroy: orchion_destroy_fn

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
        let status = error.withBuffer { initialize(table.api, &state, $0, $1) }
        guard status == ORCHION_OK else {
            self.state = nil
            self.destroy = { _ in }  // nothing to destroy: init failed
            throw .initFailed(
                file: library.info.file, name: library.info.name, status: Int32(bitPattern: status.rawValue),
                message: error.message)
        }
        self.state = state
        self.destroy = destroy
    }

    deinit { destroy(state) }
}
