import Glibc
import OrchionCore
import OrchionLoop
import OrchionProto
import OrchionServer
import OrchionWire

/// `orchion plugin list --server HOST:PORT`: the plugins a running server
/// reports through gRPC `ListPlugins`, with their state (a quarantined
/// strategy shows as such) and which is the default.
///
/// Threading: `run` is called once from the command's task; the gRPC
/// connection lives on a loop thread of its own.
enum RemotePlugins {
    /// Why the listing could not be fetched.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Fetches and prints the listing; throws a failure that says what went wrong.
    static func run(server: String, tokenFile: String?, json: Bool) async throws(Failure) {
        let target: ServerTarget
        do throws(ClientFailure) {
            target = try ServerTarget.resolve(
                server: server, caCertificate: nil, environment: ProcessEnvironment.current)
        } catch {
            throw Failure(description: error.description)
        }
        let address = target.address
        let token = try self.token(file: tokenFile, environment: ProcessEnvironment.current)
        let thread: LoopThread
        do { thread = try LoopThread() } catch { throw Failure(description: "cannot start the event loop: \(error)") }
        defer { try? thread.shutdown() }
        let reply: Orchion_V1_ListPluginsResponse
        do {
            let client = try await GRPCClient.connect(loop: thread.loop, to: address, token: token, tls: target.tls)
            do {
                reply = try await client.unary(
                    "/orchion.v1.ControlService/ListPlugins", Orchion_V1_ListPluginsRequest(), timeoutMillis: 10_000)
            } catch {
                await client.close()
                throw error
            }
            await client.close()
        } catch {
            throw Failure(description: "ListPlugins on \(address) failed: \(error)")
        }
        print(reply.plugins, json: json)
    }

    /// The client token: the first of `file` when given (the token file
    /// format, e.g. `client.credential`; owner-only permissions required;
    /// a hashed line is refused with the fix), else `ORCHION_TOKEN`,
    /// else the saved one the other client commands use, else none.
    static func token(file: String?, environment: [String: String]) throws(Failure) -> String? {
        guard let file else {
            if let token = environment["ORCHION_TOKEN"], !token.isEmpty { return token }
            do throws(ClientFailure) {
                return try ClientOptions.savedToken(environment).0
            } catch {
                throw Failure(description: error.description)
            }
        }
        let tokens: [Token]
        do throws(TokenFileError) {
            tokens = try TokenFile.read(file)
        } catch {
            throw Failure(description: "--token-file: \(error)")
        }
        guard let token = tokens.first else {
            throw Failure(description: "--token-file \(terminalSafe(file)): expected a token, found none")
        }
        guard !token.secret.hasPrefix("sha256:") else {
            throw Failure(
                description:
                    "--token-file \(terminalSafe(file)): expected a token, found a token's hash (the server's client tokens "
                    + "file keeps only hashes): pass a file holding a token, such as \(ClientCredentialFile.name) in the "
                    + "server's state directory")
        }
        return token.secret
    }

    /// Prints the listing as a table with the reasons below, or as JSON.
    static func print(_ plugins: [Orchion_V1_Plugin], json: Bool) {
        if json {
            Output.print(
                JSON.array(
                    plugins.map { plugin in
                        JSON.object(
                            [
                                ("name", plugin.name), ("kind", kind(plugin.kind)), ("version", plugin.version),
                                ("abi", plugin.abi), ("description", plugin.description_p), ("file", plugin.file),
                                ("state", state(plugin.state)), ("reason", plugin.reason.isEmpty ? nil : plugin.reason),
                            ], raw: [("is_default", plugin.isDefault ? "true" : "false")])
                    }))
            return
        }
        guard !plugins.isEmpty else {
            Output.print("the server reports no plugins")
            return
        }
        Output.print(
            Table.render(
                header: ["NAME", "KIND", "VERSION", "ABI", "STATE", "DEFAULT", "FILE"],
                rows: plugins.map { plugin in
                    [
                        plugin.name.isEmpty ? "-" : plugin.name, kind(plugin.kind),
                        plugin.version.isEmpty ? "-" : plugin.version,
                        plugin.abi.isEmpty ? "-" : plugin.abi, state(plugin.state), plugin.isDefault ? "yes" : "",
                        plugin.file,
                    ]
                }))
        let reasons = plugins.filter { !$0.reason.isEmpty }.map { plugin in
            "\(state(plugin.state)): \(terminalSafe(plugin.name.isEmpty ? plugin.file : plugin.name)): \(terminalSafe(plugin.reason))"
        }
        if !reasons.isEmpty { Output.print("\n" + reasons.joined(separator: "\n")) }
    }

    private static func kind(_ kind: Orchion_V1_PluginKind) -> String {
        switch kind {
        case .scheduler: "scheduler"
        case .executor: "executor"
        default: "-"
        }
    }

    private static func state(_ state: Orchion_V1_PluginState) -> String {
        switch state {
        case .loaded: "loaded"
        case .refused: "refused"
        case .quarantined: "quarantined"
        default: "unknown"
        }
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line breaks.
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
