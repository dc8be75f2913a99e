import COrchionPlugin

extension PluginLibrary {
    /// Validates the descriptor at `raw` as `open` does, for the fuzz harness
    /// (Tests/Fuzz) and its regression tests; `package` access, so nothing
    /// outside the package sees it. Any thread.
    ///
    /// `readableBytes` is how many bytes from `raw` may be read. Today's
    /// validation does not take it (it trusts `struct_size`); the harness
    /// places the descriptor right before an unreadable page, so reading
    /// past `readableBytes` faults instead of passing unseen.
    package static func validateDescriptor(
        at raw: UnsafeRawPointer, readableBytes: Int, file: String
    ) throws(PluginError) -> PluginInfo {
        try validate(raw.assumingMemoryBound(to: orchion_plugin_descriptor.self), file: file)
    }
}
