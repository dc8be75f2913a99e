import ArgumentParser
import OrchionCore
import OrchionProto

/// `orchion token create|list|revoke`: the server's client API tokens.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke client API tokens.",
        discussion: """
            Tokens live in the server's client tokens file (owner-only). A new token's \
            secret is printed once, by `create`; `list` shows names and a short prefix only. \
            A revoked token is refused from its next call on.

            EXAMPLES
              orchion token create laptop          # prints the secret once
              ORCHION_TOKEN=<secret> orchion node list --server 192.168.1.10:7420
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

        func run() async throws {
            let created: Orchion_V1_CreatedToken = try await client.session {
                try await $0.call("CreateToken", Orchion_V1_CreateTokenRequest.with { $0.name = name })
            }
            guard client.output == .table else { return Output.print(try Structured.text(created, client.output)) }
            Output.print(created.secret)
            printError("token '\(terminalSafe(created.info.name))' created; its secret is shown only this once")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens: name, prefix, creation time.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let reply: Orchion_V1_ListTokensResponse = try await client.session {
                try await $0.call("ListTokens", Orchion_V1_ListTokensRequest())
            }
            guard client.output == .table else { return Output.print(try Structured.text(reply, client.output)) }
            Output.print(
                ColumnTable.render(
                    header: ["NAME", "PREFIX", "CREATED"],
                    rows: reply.tokens.map { token in
                        [
                            Cell(token.name), Cell(token.prefix + "…"),
                            Cell(Human.time(token.createdAt, present: token.hasCreatedAt)),
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
