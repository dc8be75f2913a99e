import OrchionServer

// PLACEHOLDER, replaced by the lead at merge with the server runtime: this
// file holds only `runServer`, which runs the control plane with a loaded,
// valid configuration until the process is told to stop.

/// Runs the control plane with `config` until it is stopped.
func runServer(_ config: ServerConfig) async throws {
    throw ServerNotWired()
}

/// The server runtime is not part of this build yet.
struct ServerNotWired: Error, CustomStringConvertible {
    var description: String {
        "orchion server: the configuration is valid, but the server runtime is not wired into this build yet"
    }
}
