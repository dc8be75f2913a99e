import ArgumentParser
import OrchionServer

/// Runs the control plane with a loaded, valid `config` on this thread until
/// SIGTERM or SIGINT; a failure to start exits non-zero with the reason.
func runServer(_ config: ServerConfig) throws {
    let status: Int32
    do {
        status = try ControlPlaneServer.run(config)
    } catch {
        printError("orchion server: \(error)")
        throw ExitCode(1)
    }
    if status != 0 { throw ExitCode(status) }
}
