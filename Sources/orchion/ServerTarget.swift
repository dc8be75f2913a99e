import Glibc
import OrchionAgentDaemon
import OrchionCore
import OrchionLoop
import OrchionServer
import OrchionWire

/// Where a client command connects, and whether over TLS.
///
/// The server is `--server`, else `ORCHION_SERVER`, else 127.0.0.1:7420,
/// written `HOST:PORT`, `https://HOST:PORT` or `http://HOST:PORT`. A bare
/// `HOST:PORT` means plaintext on loopback and TLS beyond it, as the
/// server serves them by default. TLS verifies the server against a CA
/// certificate: `--ca-cert`, else `ORCHION_CA_CERT`, else the cluster CA
/// in the default state directory (`<state>/tls/ca.crt`, where `orchion
/// up` and `orchion server` make it), so a client on the server's machine
/// needs nothing.
///
/// Threading: a value; `resolve` reads files (the command's task, before
/// any loop runs).
struct ServerTarget {
    let address: SocketAddress
    /// Where the address came from ("--server", "ORCHION_SERVER", "the default").
    let source: String
    /// The TLS to speak; nil for plaintext.
    let tls: GRPCClientTLS?

    static let defaultServer = "127.0.0.1:7420"

    static func resolve(
        server: String?, caCertificate: String?, environment: [String: String]
    ) throws(ClientFailure) -> ServerTarget {
        let (text, source): (String, String) =
            if let server {
                (server, "--server")
            } else if let fromEnvironment = environment["ORCHION_SERVER"], !fromEnvironment.isEmpty {
                (fromEnvironment, "ORCHION_SERVER")
            } else { (defaultServer, "the default") }
        var rest = Substring(text)
        var scheme: Bool?  // true: https, false: http, nil: by the address
        if rest.hasPrefix("https://") {
            (scheme, rest) = (true, rest.dropFirst(8))
        } else if rest.hasPrefix("http://") {
            (scheme, rest) = (false, rest.dropFirst(7))
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        // A name is resolved here (the command has no loop yet) and kept
        // as the name TLS verifies the certificate against.
        let server: ServerAddress
        let address: SocketAddress
        do throws(AgentSettingsError) {
            server = try ServerAddress(parsing: String(rest))
            address = try server.resolve().get()
        } catch {
            let unresolvable = if case .unresolvable = error { true } else { false }
            throw ClientFailure(
                unresolvable ? ClientExit.unreachable : ClientExit.usage,
                "\(source): " + terminalSafe(error.description.replacingPrefix("--server: ", with: ""))
                    + (error.description.hasPrefix("--server") ? " (https:// or http:// may come first)" : ""))
        }
        let named =
            caCertificate.map { ($0, "--ca-cert") }
            ?? environment["ORCHION_CA_CERT"].flatMap {
                $0.isEmpty ? nil : ($0, "ORCHION_CA_CERT")
            }
        guard scheme ?? (named != nil || !ConfigUnits.isLoopback(address.host)) else {
            return ServerTarget(address: address, source: source, tls: nil)
        }
        guard let (file, fileSource) = named ?? savedCA(environment) else {
            throw ClientFailure(
                ClientExit.usage,
                "the server at \(address) (\(source)) speaks TLS"
                    + (scheme == true ? "" : " (it is beyond loopback)")
                    + ": pass --ca-cert FILE or set ORCHION_CA_CERT to the cluster CA certificate "
                    + "(the server's <state>/tls/ca.crt); http://\(address) sends in the clear to a server "
                    + "that allows it")
        }
        let pem: [UInt8]
        do throws(ClusterCAError) {
            guard let read = try CertificateFiles.read(file, secret: false) else {
                throw ClusterCAError(path: file, "no such file")
            }
            pem = read
        } catch {
            throw ClientFailure(ClientExit.usage, "\(fileSource): \(terminalSafe(error.description))")
        }
        do throws(TLSError) {
            let context = try TLSClientContext(trustingPEM: pem)
            return ServerTarget(
                address: address, source: source, tls: GRPCClientTLS(context: context, serverName: server.host))
        } catch {
            throw ClientFailure(
                ClientExit.usage,
                "\(fileSource) \(terminalSafe(file)): expected a PEM CA certificate: \(error)")
        }
    }

    /// The cluster CA certificate in the default state directory, when there is one.
    private static func savedCA(_ environment: [String: String]) -> (String, String)? {
        guard
            let directory = StateDirectory.resolve(
                configured: environment["ORCHION_STATE_DIR"], environment: environment)
        else { return nil }
        let path = directory + "/tls/ca.crt"
        return access(path, R_OK) == 0 ? (path, path) : nil
    }
}
