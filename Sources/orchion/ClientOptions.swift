import ArgumentParser
import Glibc
import OrchionCore
import OrchionLoop
import OrchionProto
import OrchionServer
import OrchionWire
import SwiftProtobuf

/// What every client command exits with (also in `orchion --help`).
enum ClientExit {
    static let ok: Int32 = 0
    static let error: Int32 = 1
    static let usage: Int32 = 2
    static let unreachable: Int32 = 3
    static let unauthenticated: Int32 = 4
    static let notFound: Int32 = 5
    /// `job wait --timeout` elapsed before the jobs ended.
    static let waitTimedOut: Int32 = 6
    /// `job wait`: the job hit its own timeout (as timeout(1) reports).
    static let jobTimedOut: Int32 = 124
    /// `job wait`: the job was cancelled.
    static let jobCancelled: Int32 = 125
    /// `job wait`: the job failed without an exit code (never started, lost).
    static let jobNoExitCode: Int32 = 126

    /// The help text's section on exit codes.
    static let reference = """
        EXIT CODES
          0    success (job wait: every job succeeded)
          1    error (the server refused the request, bad input)
          2    usage error
          3    the server cannot be reached
          4    not authenticated or not allowed (missing, wrong or revoked token)
          5    not found (no such job, node or token)
          6    job wait: --timeout elapsed first
        job wait exits with the job's own result: its exit code (1-255), 128+N when
        killed by signal N, 124 when it hit its timeout, 125 when cancelled, 126 when
        it failed without an exit code. With several jobs: the first (in argument
        order) that did not succeed.
        """
}

/// A client command's failure: what to print and the exit code.
struct ClientFailure: Error, CustomStringConvertible {
    let code: Int32
    let description: String

    init(_ code: Int32, _ description: String) {
        self.code = code
        self.description = description
    }
}

/// How a command prints what it got.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

/// Options every client command takes: where the server is, the token, the
/// output format.
///
/// The server and its TLS are a `ServerTarget` (`--server`, `--ca-cert`).
/// The token is `--token`, else `ORCHION_TOKEN`, else `client.credential` in
/// the default state directory (`ORCHION_STATE_DIR`, `$XDG_DATA_HOME/orchion`,
/// `~/.local/share/orchion`), which `orchion server` creates on first start
/// (an admin token for this machine's CLI).
struct ClientOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The server: HOST:PORT (TLS beyond loopback), https:// or http:// (env ORCHION_SERVER; default 127.0.0.1:7420).",
            valueName: "host:port"))
    var server: String?

    @Option(
        help: ArgumentHelp(
            "The client API token (env ORCHION_TOKEN; default: client.credential in the server's state directory).",
            valueName: "token"))
    var token: String?

    @Option(
        name: .customLong("ca-cert"),
        help: ArgumentHelp(
            "The cluster CA certificate to verify a TLS server with (env ORCHION_CA_CERT; default: <state>/tls/ca.crt).",
            valueName: "file"))
    var caCertificate: String?

    @Option(name: [.customShort("o"), .long], help: "Output format: table, json or yaml.")
    var output: OutputFormat = .table

    /// The token to send (nil for none) and where it came from.
    func credentials(_ environment: [String: String]) throws(ClientFailure) -> (String?, String) {
        if let token { return (token, "--token") }
        if let fromEnvironment = environment["ORCHION_TOKEN"], !fromEnvironment.isEmpty {
            return (fromEnvironment, "ORCHION_TOKEN")
        }
        return try Self.savedToken(environment)
    }

    /// This machine's own client credential (`client.credential` in the
    /// default state directory, which `orchion server` and `orchion up`
    /// write on first start), and its path; nil with the reason when there
    /// is none. A server of an older version kept secrets in its
    /// `client.tokens`: its first token is used then, as before.
    static func savedToken(_ environment: [String: String]) throws(ClientFailure) -> (String?, String) {
        guard
            let directory = StateDirectory.resolve(
                configured: environment["ORCHION_STATE_DIR"], environment: environment)
        else { return (nil, "no token (HOME is not set)") }
        let path = directory + "/" + ClientCredentialFile.name
        var status = stat()
        if stat(path, &status) == 0 {
            do throws(TokenFileError) {
                return (try ClientCredentialFile.read(path), path)
            } catch {
                throw ClientFailure(ClientExit.unauthenticated, "cannot use the saved client credential: \(error)")
            }
        }
        let legacy = directory + "/client.tokens"
        guard stat(legacy, &status) == 0 else {
            return (nil, "no token (\(path) does not exist; pass --token or set ORCHION_TOKEN)")
        }
        do throws(TokenFileError) {
            guard let first = try TokenFile.read(legacy).first, !first.secret.hasPrefix("sha256:") else {
                return (nil, "no token (\(path) does not exist; pass --token or set ORCHION_TOKEN)")
            }
            return (first.secret, legacy)
        } catch {
            throw ClientFailure(ClientExit.unauthenticated, "cannot use the saved client token: \(error)")
        }
    }

    /// Connects, runs `body`, closes; turns failures into a message on
    /// stderr and the exit code (`ExitCode`).
    func session<T>(_ body: (ControlConnection) async throws -> T) async throws -> T {
        do {
            let environment = ProcessEnvironment.current
            let target = try ServerTarget.resolve(
                server: server, caCertificate: caCertificate, environment: environment)
            let (token, tokenSource) = try credentials(environment)
            let connection = try await ControlConnection.open(target, token: token, tokenSource: tokenSource)
            do {
                let result = try await body(connection)
                await connection.close()
                return result
            } catch let exit as ExitCode {
                await connection.close()
                throw exit
            } catch {
                await connection.close()
                throw connection.failure(error)
            }
        } catch let failure as ClientFailure {
            printError("orchion: \(failure.description)")
            throw ExitCode(failure.code)
        }
    }
}

/// One connection to the control API and the calls the commands make.
///
/// Threading: used from the command's task; the connection lives on a loop
/// thread of its own, stopped by `close`.
final class ControlConnection: Sendable {
    let client: GRPCClient
    let thread: LoopThread
    let address: SocketAddress
    let addressSource: String
    let tokenSource: String

    private init(
        client: GRPCClient, thread: LoopThread, address: SocketAddress, addressSource: String, tokenSource: String
    ) {
        self.client = client
        self.thread = thread
        self.address = address
        self.addressSource = addressSource
        self.tokenSource = tokenSource
    }

    static func open(
        _ target: ServerTarget, token: String?, tokenSource: String
    ) async throws(ClientFailure) -> ControlConnection {
        let (address, addressSource) = (target.address, target.source)
        let thread: LoopThread
        do { thread = try LoopThread() } catch {
            throw ClientFailure(ClientExit.error, "cannot start the event loop: \(error)")
        }
        do {
            let client = try await GRPCClient.connect(loop: thread.loop, to: address, token: token, tls: target.tls)
            return ControlConnection(
                client: client, thread: thread, address: address, addressSource: addressSource,
                tokenSource: tokenSource)
        } catch let error as TLSError {
            try? thread.shutdown()
            throw ClientFailure(
                ClientExit.unreachable,
                "the server at \(address) (\(addressSource)) answered, but not as this cluster's server: \(error)\n"
                    + "  check that --ca-cert / ORCHION_CA_CERT is the cluster's CA (the server's <state>/tls/ca.crt) "
                    + "and that the address is one its certificate names")
        } catch {
            try? thread.shutdown()
            throw ClientFailure(
                ClientExit.unreachable,
                "cannot reach the server at \(address) (\(addressSource)): \(error)\n"
                    + "  start one with `orchion up` (or `orchion server`), or point --server / ORCHION_SERVER at one")
        }
    }

    func close() async {
        await client.close()
        try? thread.shutdown()
    }

    /// A unary control call.
    func call<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ method: String, _ request: Request, timeoutMillis: UInt64 = 60_000
    ) async throws -> Reply {
        try await client.unary("/orchion.v1.ControlService/\(method)", request, timeoutMillis: timeoutMillis)
    }

    /// A server-streaming control call.
    func stream<Request: SwiftProtobuf.Message, Reply: SwiftProtobuf.Message>(
        _ method: String, _ request: Request, as type: Reply.Type
    ) -> AsyncThrowingStream<Reply, any Error> {
        client.serverStreaming("/orchion.v1.ControlService/\(method)", request, as: type)
    }

    /// `error` as the user should see it, with its exit code.
    func failure(_ error: any Error) -> ClientFailure {
        if let failure = error as? ClientFailure { return failure }
        guard let error = error as? RPCError else { return ClientFailure(ClientExit.error, "\(error)") }
        let message = terminalSafe(error.message)
        switch error.code {
        case .unauthenticated:
            return ClientFailure(
                ClientExit.unauthenticated,
                "the server at \(address) refused the token (\(tokenSource)): \(message)\n"
                    + "  pass --token or set ORCHION_TOKEN (`orchion token create NAME` on an authorized client makes one)"
            )
        case .permissionDenied:
            return ClientFailure(ClientExit.unauthenticated, "not allowed: \(message)")
        case .notFound:
            return ClientFailure(ClientExit.notFound, message)
        case .unavailable:
            return ClientFailure(ClientExit.unreachable, "the server at \(address) is unavailable: \(message)")
        default:
            return ClientFailure(ClientExit.error, message)
        }
    }
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
