import Foundation
import OrchionProto
import TestSupport
import Testing

@testable import OrchionAgentDaemon

@Suite struct AgentJournalTests {
    private func chunk(_ text: String, job: String = "j1", offset: UInt64 = 0) -> Orchion_V1_LogChunk {
        .with {
            $0.jobID = job
            $0.attempt = 1
            $0.stream = .stdout
            $0.offset = offset
            $0.data = Data(text.utf8)
        }
    }

    /// Opens the journal in `directory` again, as a restarted agent does.
    /// A process another test spawns at that moment holds a copy of the
    /// lock's descriptor from its fork to its exec (close-on-exec), so an
    /// `inUse` refusal is retried for up to 5 s.
    private func reopen(_ directory: URL) throws -> (AgentJournal, AgentJournal.Recovered) {
        let deadline = Date().addingTimeInterval(5)
        while true {
            do throws(JournalError) {
                return try AgentJournal.open(directory: directory.path)
            } catch {
                guard case .inUse = error, Date() < deadline else { throw error }
                usleep(10_000)
            }
        }
    }

    private func end(_ job: String, _ state: Orchion_V1_JobState = .succeeded) -> Orchion_V1_JobEvent {
        .with {
            $0.jobID = job
            $0.attempt = 1
            $0.state = state
            $0.reason = "exited with code 0"
        }
    }

    @Test func attemptsAndUndeliveredRecordsComeBackInOrderAfterReopening() throws {
        let directory = try Paths.temporaryDirectory("agent-journal")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let (journal, first) = try AgentJournal.open(directory: directory.path)
            #expect(first.attempts.isEmpty && first.pending.isEmpty)
            try journal.accepted(AttemptKey("j1", 1))
            try journal.started(AttemptKey("j1", 1), pid: 4242)
            let out1 = try journal.output(chunk("a\n"))
            let out2 = try journal.output(chunk("b\n", offset: 2))
            try journal.accepted(AttemptKey("j2", 1))
            let ended = try journal.ended(end("j1"))
            try journal.delivered([out1])
            try journal.sync()
            _ = (out2, ended)
        }
        let (journal, recovered) = try reopen(directory)
        #expect(recovered.truncatedBytes == 0)
        #expect(recovered.attempts.map(\.0) == [AttemptKey("j1", 1), AttemptKey("j2", 1)])
        if case .ended(let event)? = recovered.attempts.first?.1 {
            #expect(event.state == .succeeded)
        } else {
            Issue.record("j1 should be ended, found \(String(describing: recovered.attempts.first?.1))")
        }
        if case .accepted? = recovered.attempts.last?.1 {} else { Issue.record("j2 should be accepted") }
        #expect(recovered.pending.map(\.isEnd) == [false, true])
        #expect(recovered.pending.first?.outputBytes == 2)
        let pending = try #require(recovered.pending.first)
        let message = try #require(try journal.message(pending.sequence))
        #expect(message.logChunk.data == Data("b\n".utf8))
        #expect(message.logChunk.offset == 2)
    }

    @Test func aTornLastRecordIsCutAndEverythingBeforeItIsKept() throws {
        let directory = try Paths.temporaryDirectory("agent-journal")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("journal").path
        do {
            let (journal, _) = try AgentJournal.open(directory: directory.path)
            try journal.accepted(AttemptKey("kept", 1))
            _ = try journal.ended(end("kept"))
            try journal.sync()
        }
        let intact = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        // Half a record, as a crash in the middle of a write leaves it.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([40, 0, 0, 0, 1, 2, 3, 4, 3, 9, 9]))
        try handle.close()
        do {
            let (journal, recovered) = try reopen(directory)
            #expect(recovered.truncatedBytes == 11)
            #expect(recovered.attempts.map(\.0) == [AttemptKey("kept", 1)])
            #expect(recovered.pending.count == 1)
            #expect(journal.size == Int64(intact))
            // Appends continue where the good records end.
            try journal.accepted(AttemptKey("next", 1))
            try journal.sync()
        }
        let (_, again) = try reopen(directory)
        #expect(again.attempts.map(\.0) == [AttemptKey("kept", 1), AttemptKey("next", 1)])
    }

    @Test func compactionKeepsAttemptsAndUndeliveredRecordsAndDropsDeliveredOutput() throws {
        let directory = try Paths.temporaryDirectory("agent-journal")
        defer { try? FileManager.default.removeItem(at: directory) }
        let last: UInt64
        do {
            let (journal, _) = try AgentJournal.open(directory: directory.path)
            let big = String(repeating: "x", count: 64 << 10)
            var delivered: [UInt64] = []
            for index in 0..<40 { delivered.append(try journal.output(chunk(big, offset: UInt64(index) << 16))) }
            try journal.accepted(AttemptKey("j1", 1))
            let endSequence = try journal.ended(end("j1"))
            try journal.accepted(AttemptKey("j2", 1))
            last = try journal.output(chunk("tail\n", job: "j2"))
            try journal.delivered(delivered + [endSequence])
            let before = journal.size
            #expect(try journal.compactIfUseful())
            #expect(journal.size < before / 10)
        }
        let (reopened, recovered) = try reopen(directory)
        #expect(recovered.pending.map(\.sequence) == [last])
        #expect(try reopened.message(last)?.logChunk.data == Data("tail\n".utf8))
        #expect(recovered.attempts.map(\.0) == [AttemptKey("j1", 1), AttemptKey("j2", 1)])
        if case .ended? = recovered.attempts.first?.1 {} else { Issue.record("j1's end should be remembered") }
    }
}

@Suite struct AgentSettingsTests {
    @Test func aJoinTokenFileReadableByOthersIsRefusedWithTheFix() throws {
        let directory = try Paths.temporaryDirectory("agent-settings")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("join.token").path
        try Data("secret-token\n".utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, 0o644)
        var flags = AgentFlags()
        flags.joinTokenFile = file
        flags.nodeID = "n1"
        flags.stateDirectory = directory.path
        #expect(
            throws: AgentSettingsError.tokenFile(
                file, "is readable by others (mode 644); expected owner-only: chmod 600 \(file)")
        ) {
            try AgentSettings.resolve(flags, environment: [:])
        }
        chmod(file, 0o600)
        // Beyond loopback, the credentials go only inside TLS unless --plaintext says the link encrypts.
        #expect(throws: AgentSettingsError.self) {
            try AgentSettings.resolve(flags, environment: ["ORCHION_SERVER": "10.0.0.5:7000"])
        }
        var plaintext = flags
        plaintext.plaintext = true  // --plaintext: the link encrypts already
        #expect(
            try AgentSettings.resolve(plaintext, environment: ["ORCHION_SERVER": "10.0.0.5:7000"]).serverTrust == nil)
        var parsed = AgentFlags()
        parsed.plaintext = true
        #expect(try AgentCommandLine.parse(["--plaintext"]) == .run(parsed))
        flags.caHash = "sha256:" + String(repeating: "ab", count: 32)
        let settings = try AgentSettings.resolve(flags, environment: ["ORCHION_SERVER": "10.0.0.5:7000"])
        #expect(settings.joinToken == "secret-token")
        #expect(settings.server == (try ServerAddress(parsing: "10.0.0.5:7000")))
        flags.server = "127.0.0.1:9"
        flags.labels = ["zone=a", "gpu=none"]
        let flagged = try AgentSettings.resolve(flags, environment: ["ORCHION_SERVER": "10.0.0.5:7000"])
        #expect(flagged.server.description == "127.0.0.1:9")
        #expect(flagged.labels == ["zone": "a", "gpu": "none"])
    }

    @Test func aJoinTokenFileAsTheServerWritesItGivesTheTokenWithoutItsComments() throws {
        let directory = try Paths.temporaryDirectory("agent-settings")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("join.token").path
        try Data("# orchion join token: keep this file mode 0600\n\nsecret-token-0123  # the token\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        chmod(file, 0o600)
        var flags = AgentFlags()
        flags.joinTokenFile = file
        flags.nodeID = "n1"
        flags.stateDirectory = directory.path
        #expect(try AgentSettings.resolve(flags, environment: [:]).joinToken == "secret-token-0123")
        // CRLF endings (a file edited on Windows): the CR is not part of the token.
        try Data("# join token\r\nsecret-token-0123\r\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try AgentSettings.resolve(flags, environment: [:]).joinToken == "secret-token-0123")
        try Data("one two\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(
            throws: AgentSettingsError.tokenFile(
                file, "holds 2 words besides comments; expected the join token alone")
        ) { try AgentSettings.resolve(flags, environment: [:]) }
    }

    @Test func settingsNeedATokenAndAWellFormedServerAddress() throws {
        var flags = AgentFlags()
        flags.nodeID = "n1"
        flags.stateDirectory = "state"
        #expect(throws: AgentSettingsError.missingToken) { try AgentSettings.resolve(flags, environment: [:]) }
        flags.server = "no-port"
        #expect(throws: AgentSettingsError.invalid("--server", expected: "HOST:PORT", found: "no-port")) {
            try AgentSettings.resolve(flags, environment: ["ORCHION_JOIN_TOKEN": "t"])
        }
        flags.server = "[::1]:7420"
        let settings = try AgentSettings.resolve(flags, environment: ["ORCHION_JOIN_TOKEN": "t"])
        #expect(settings.server.host == "::1" && settings.server.port == 7420)
        #expect(settings.stateDirectory == "state")
    }
}
