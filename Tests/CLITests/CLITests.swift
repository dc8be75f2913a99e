import ClusterTestSupport
import Foundation
import TestSupport
import Testing

/// The `orchion` client commands, run as a user runs them, against a real
/// server and two real agents.
@Suite(.serialized) struct CLITests {
    @Test func submitFromFlagsAndYAMLFollowLogsWaitForAFailureAnArrayAndATypoRefused() async throws {
        let cluster = try CLICluster()
        defer { cluster.close() }
        try await cluster.waitForNodes()

        let submitted = try cluster.orchion(
            ["job", "submit", "--name", "two-lines", "--", "sh", "-c", "echo one; sleep 0.3; echo two >&2; exit 7"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("j-") && !id.contains("\n"), "\(submitted.stdout)")

        // Followed until the job ends: stdout and stderr on their own streams.
        let followed = try cluster.orchion(["logs", "-f", id])
        #expect(followed.status == 0, "\(followed.stderr)")
        #expect(followed.stdout == "one\n")
        #expect(followed.stderr == "two\n")

        // job wait exits with the job's exit code.
        let waited = try cluster.orchion(["job", "wait", id])
        #expect(waited.status == 7, "\(waited.stdout) \(waited.stderr)")

        // An array: N copies, each told its index and the count.
        let array = try cluster.orchion(
            [
                "job", "submit", "--count", "4", "--cpu", "100m", "--", "sh", "-c",
                "echo $ORCHION_ARRAY_INDEX/$ORCHION_ARRAY_COUNT",
            ])
        #expect(array.status == 0, "\(array.stderr)")
        let ids = array.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == 4)
        let all = try cluster.orchion(["job", "wait"] + ids)
        #expect(all.status == 0, "\(all.stdout) \(all.stderr)")
        var printed: Set<String> = []
        for id in ids { printed.insert(try cluster.orchion(["logs", id]).stdout) }
        #expect(printed == ["0/4\n", "1/4\n", "2/4\n", "3/4\n"])

        // YAML: two documents in one file and a second file, one batch.
        let first = cluster.directory.appendingPathComponent("jobs.yaml")
        try Data(
            """
            apiVersion: orchion/v1
            kind: Job
            name: yaml-one
            command: echo from yaml one
            resources: {cpu: 100m, memory: 16Mi}
            ---
            apiVersion: orchion/v1
            kind: Job
            name: yaml-two
            argv: [sh, -c, "echo from yaml two"]

            """.utf8
        ).write(to: first)
        let second = cluster.directory.appendingPathComponent("more.yaml")
        try Data("apiVersion: orchion/v1\nkind: Job\nname: yaml-three\ncommand: echo three\n".utf8).write(to: second)
        let fromYAML = try cluster.orchion(["job", "submit", first.path, second.path, "-o", "json"])
        #expect(fromYAML.status == 0, "\(fromYAML.stderr)")
        let response = try JSONSerialization.jsonObject(with: Data(fromYAML.stdout.utf8)) as? [String: Any]
        let yamlIDs = try #require(response?["jobIds"] as? [String], "\(fromYAML.stdout)")
        #expect(yamlIDs.count == 3)
        #expect(try cluster.orchion(["job", "wait"] + yamlIDs).status == 0)
        #expect(try cluster.orchion(["logs", yamlIDs[1]]).stdout == "from yaml two\n")

        // A typo is refused with file:line:column and a suggestion; nothing is sent.
        let jobIDs = { () throws -> [String] in
            let listed = try cluster.orchion(["job", "list", "--limit", "0", "-o", "json"]).stdout
            let object = try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any]
            return (object?["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        let before = try jobIDs()
        #expect(before.count == 8)
        let typo = cluster.directory.appendingPathComponent("typo.yaml")
        try Data(
            "apiVersion: orchion/v1\nkind: Job\nname: typo\ncommand: echo hi\nresources:\n  cpu: 1\n  gpu: 1\n".utf8
        ).write(to: typo)
        let refused = try cluster.orchion(["job", "submit", second.path, typo.path])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("unknown field `gpu` at \(typo.path):7:3; did you mean `gpus`?"),
            "\(refused.stderr)")
        #expect(try jobIDs() == before)

        // -o json is what python3 -m json.tool takes; the table names the jobs.
        let json = try runCommand(
            ["sh", "-c", "'\(Paths.orchion)' job list -o json | python3 -m json.tool"],
            environment: cluster.environment,
            timeout: 60)
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout.contains("\"JOB_STATE_FAILED\"") && json.stdout.contains("\"two-lines\""))
        let table = try cluster.orchion(["job", "list"])
        #expect(table.stdout.hasPrefix("ID ") && table.stdout.contains("two-lines") && table.stdout.contains("failed"))
        let yaml = try cluster.orchion(["node", "show", "cli-b", "-o", "yaml"])
        #expect(yaml.status == 0 && yaml.stdout.contains("id: cli-b\n"), "\(yaml.stdout)")
    }

    @Test func cancelARunningJobAndTheDocumentedExitCodesForEachFailure() async throws {
        let cluster = try CLICluster()
        defer { cluster.close() }
        try await cluster.waitForNodes()

        let submitted = try cluster.orchion(["job", "submit", "--", "sleep", "60"])
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await eventually("the job running", timeout: 20) { try cluster.state(id) == "JOB_STATE_RUNNING" }
        let cancelled = try cluster.orchion(["job", "cancel", id])
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(cancelled.stdout.hasPrefix("\(id): "))
        let waited = try cluster.orchion(["job", "wait", "--timeout", "30s", id])
        #expect(waited.status == 125, "\(waited.stdout) \(waited.stderr)")
        #expect(try cluster.state(id) == "JOB_STATE_CANCELLED")

        // Not found: 5.
        let missing = try cluster.orchion(["job", "show", "j-nosuchjob"])
        #expect(missing.status == 5)
        #expect(missing.stderr.contains("not found"))

        // A wrong token: 4, and where the token came from.
        let refused = try cluster.orchion(["node", "list"], environment: ["ORCHION_TOKEN": "not-a-valid-token-at-all"])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("refused the token (ORCHION_TOKEN)"), "\(refused.stderr)")

        // Nothing listening: 3, saying where it tried and how to start a server.
        let unreachable = try cluster.orchion(["node", "list", "--server", "127.0.0.1:1"])
        #expect(unreachable.status == 3)
        #expect(unreachable.stderr.contains("127.0.0.1:1") && unreachable.stderr.contains("orchion up"))

        // Usage: 2.
        let usage = try cluster.orchion(["job", "submit"])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("expected a command after --"))

        // A token made by `token create` works within its scope; revoked, it is refused.
        let created = try cluster.orchion(["token", "create", "ci", "--scope", "submit", "--ttl", "24h"])
        let secret = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(created.status == 0 && secret.count == 64)
        #expect(created.stderr.contains("scope submit") && created.stderr.contains("shown only this once"))
        #expect(try cluster.orchion(["node", "list"], environment: ["ORCHION_TOKEN": secret]).status == 0)
        let drained = try cluster.orchion(["node", "drain", "cli-b"], environment: ["ORCHION_TOKEN": secret])
        #expect(drained.status == 4)
        #expect(
            drained.stderr.contains("DrainNode needs scope admin; token 'ci' has scope submit"), "\(drained.stderr)")
        let viewer = try cluster.orchion(["token", "create", "viewer", "-o", "json"])
        let viewerJSON = try #require(
            try JSONSerialization.jsonObject(with: Data(viewer.stdout.utf8)) as? [String: Any])
        #expect((viewerJSON["info"] as? [String: Any])?["scope"] as? String == "read", "read: the default")
        let viewerSecret = try #require(viewerJSON["secret"] as? String)
        let refusedSubmit = try cluster.orchion(
            ["job", "submit", "--", "true"], environment: ["ORCHION_TOKEN": viewerSecret])
        #expect(
            refusedSubmit.status == 4 && refusedSubmit.stderr.contains("needs scope submit"), "\(refusedSubmit.stderr)")
        let listed = try cluster.orchion(["token", "list"])
        #expect(listed.stdout.contains("SCOPE") && listed.stdout.contains("EXPIRES"), "\(listed.stdout)")
        let ciRow = listed.stdout.split(separator: "\n").first { $0.hasPrefix("ci ") }.map(String.init) ?? ""
        #expect(ciRow.contains(String(secret.prefix(6)) + "…") && ciRow.contains("submit") && ciRow.contains("UTC"))
        #expect(!listed.stdout.contains(secret) && !listed.stdout.contains(viewerSecret))
        let file = try String(contentsOf: cluster.state.appendingPathComponent("client.tokens"), encoding: .utf8)
        #expect(!file.contains(secret) && !file.contains(viewerSecret), "the server keeps hashes only")
        #expect(try cluster.orchion(["token", "revoke", "ci"]).status == 0)
        #expect(try cluster.orchion(["node", "list"], environment: ["ORCHION_TOKEN": secret]).status == 4)
    }

    @Test func colourAndProgressOnATerminalOnlyAndNoColorHonoured() async throws {
        let cluster = try CLICluster()
        defer { cluster.close() }
        try await cluster.waitForNodes()
        let escape = "\u{1B}["

        let terminal = try cluster.orchionOnTerminal(["node", "list"])
        #expect(terminal.status == 0, "\(terminal.stdout)")
        #expect(terminal.stdout.contains(escape + "32mready"), "\(terminal.stdout)")

        let noColor = try cluster.orchionOnTerminal(["node", "list"], environment: ["NO_COLOR": "1"])
        #expect(noColor.status == 0)
        #expect(noColor.stdout.contains("ready") && !noColor.stdout.contains(escape), "\(noColor.stdout)")

        let piped = try cluster.orchion(["node", "list"])
        #expect(piped.stdout.contains("ready") && !piped.stdout.contains(escape))

        // job wait on a terminal: the result line, coloured; exit code kept.
        let id = try cluster.orchion(["job", "submit", "--", "true"]).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        let waited = try cluster.orchionOnTerminal(["job", "wait", id])
        #expect(waited.status == 0)
        #expect(waited.stdout.contains("\(id): \(escape)32msucceeded"), "\(waited.stdout)")

        // Waiting on several jobs: a counter on a terminal's stderr, nothing on a pipe's.
        let sleepers = try cluster.orchion(["job", "submit", "--count", "2", "--", "sleep", "3"]).stdout.split(
            separator: "\n"
        ).map(String.init)
        let counted = try cluster.orchionOnTerminal(["job", "wait"] + sleepers)
        #expect(counted.status == 0)
        #expect(counted.stdout.contains("\r\(escape)Kwaiting: 1/2 jobs done"), "\(counted.stdout)")
        let more = try cluster.orchion(["job", "submit", "--count", "2", "--", "sleep", "3"]).stdout.split(
            separator: "\n"
        ).map(String.init)
        let quiet = try cluster.orchion(["job", "wait"] + more)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")

        // Completion scripts for the three shells.
        for shell in ["bash", "zsh", "fish"] {
            let script = try cluster.orchion(["completion", shell])
            #expect(script.status == 0 && script.stdout.contains("orchion") && script.stdout.contains("submit"))
        }
    }
}
