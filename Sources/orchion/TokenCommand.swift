import ArgumentParser
import OrchionCore
import OrchionProto
import OrchionServer
import OrchionWire

/// `orchion token create|list|revoke`: the server's client API tokens.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke client API tokens.",
        discussion: """
            The server keeps only each token's SHA-256 (in its owner-only client tokens file), \
            with its scope and expiry. A new token's secret is printed once, by `create`; \
            nothing can show it again. A revoked or expired token is refused from its next call on.

            SCOPES
              read     list and watch: nodes, jobs, logs, events, plugins, the scheduler
              submit   read, plus submit jobs and cancel the jobs this token submitted
              admin    everything: drain/cordon nodes, set the scheduler, manage tokens,
                       cancel anyone's job
              join     (--join) enrol new machines as nodes, as the join token does;
                       no client command at all. Its join command is printed with it.
            A token made without --scope gets read, the least.

            EXAMPLES
              orchion token create laptop --scope submit --ttl 30d   # prints the secret once
              orchion token create pi-5 --join --ttl 1h     # prints the join command for a new node
              ORCHION_TOKEN=<secret> orchion job submit --server 192.168.1.10:7420 -- ./task
              orchion token list
              orchion token revoke laptop

            \(ClientExit.reference)
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new token; its secret is printed once, on stdout.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "A name: letters, digits, '.', '_', '-'.") var name: String
        @Option(
            help: ArgumentHelp("What it may do: read, submit, admin or join (default read).", valueName: "scope"),
            completion: .list(Scope.allCases.map(\.name)))
        var scope: String?
        @Flag(help: "A join token (--scope join): prints the command that joins another machine with it.")
        var join = false
        @Option(help: ArgumentHelp("Refused after this long: 1h, 24h, 30d (default: never).", valueName: "duration"))
        var ttl: String?

        func validate() throws {
            if let scope, Scope(name: scope) == nil {
                throw ValidationError("--scope: expected read, submit, admin or join, found '\(terminalSafe(scope))'")
            }
            if join, let scope, scope != Scope.join.name {
                throw ValidationError("--join makes a join token: --scope \(terminalSafe(scope)) contradicts it")
            }
            _ = try ttlSeconds()
        }

        /// `--ttl` in whole seconds (0: never expires).
        func ttlSeconds() throws -> UInt64 {
            guard let ttl else { return 0 }
            switch ConfigUnits.duration(ttl) {
            case .success(let duration):
                let seconds = duration.components.seconds
                guard seconds >= 1 else { throw ValidationError("--ttl: expected at least 1s, found '\(ttl)'") }
                return UInt64(seconds)
            case .failure(let error):
                throw ValidationError("--ttl: \(error)")
            }
        }

        func run() async throws {
            let request = Orchion_V1_CreateTokenRequest.with {
                $0.name = name
                $0.scope = join ? Scope.join.name : scope ?? ""
                $0.ttlSeconds = (try? ttlSeconds()) ?? 0
            }
            let created: Orchion_V1_CreatedToken = try await client.session {
                try await $0.call("CreateToken", request)
            }
            guard client.output == .table else { return Output.print(try Structured.text(created, client.output)) }
            // A join token: the command to run on the new machine (it carries the secret).
            Output.print(created.joinCommand.isEmpty ? created.secret : created.joinCommand)
            let expiry =
                created.info.hasExpiresAt
                ? "expires \(Human.time(created.info.expiresAt, present: true))" : "never expires"
            printError(
                "token '\(terminalSafe(created.info.name))' created (scope \(terminalSafe(created.info.scope)), "
                    + "\(expiry)); its secret is shown only this once: the server keeps only its hash")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tokens: name, prefix, scope, creation and expiry times.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let reply: Orchion_V1_ListTokensResponse = try await client.session {
                try await $0.call("ListTokens", Orchion_V1_ListTokensRequest())
            }
            guard client.output == .table else { return Output.print(try Structured.text(reply, client.output)) }
            Output.print(
                ColumnTable.render(
                    header: ["NAME", "PREFIX", "SCOPE", "CREATED", "EXPIRES"],
                    rows: reply.tokens.map { token in
                        [
                            Cell(token.name), Cell(token.prefix.isEmpty ? "-" : token.prefix + "…"), Cell(token.scope),
                            Cell(Human.time(token.createdAt, present: token.hasCreatedAt)),
                            token.expired
                                ? Cell("expired " + Human.time(token.expiresAt, present: true), .red)
                                : Cell(token.hasExpiresAt ? Human.time(token.expiresAt, present: true) : "never"),
                        ]
                    }, style: .standardOutput))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a token; the server refuses it at once.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The token's name.") var name: String

        func run() async throws {
            let revoked: Orchion_V1_TokenInfo = try await client.session {
                try await $0.call("RevokeToken", Orchion_V1_RevokeTokenRequest.with { $0.name = name })
            }
            guard client.output == .table else { return Output.print(try Structured.text(revoked, client.output)) }
            Output.print("revoked token '\(terminalSafe(revoked.name))'")
        }
    }
}
