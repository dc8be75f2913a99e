import ArgumentParser
import Glibc
import OrchionCore
import OrchionProto
import OrchionServer
import OrchionWire
import SwiftProtobuf

/// `orchion job …`: submit, list, inspect, cancel and wait for jobs.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Submit, list, inspect, cancel and wait for jobs.",
        discussion: """
            EXAMPLES
              id=$(orchion job submit -- sh -c 'echo hi; exit 3')
              orchion job wait "$id"; echo "exit $?"     # exit 3
              orchion job list --state running
              orchion job show "$id"
              orchion job cancel "$id"

            \(ClientExit.reference)
            """,
        subcommands: [JobSubmitCommand.self, List.self, Show.self, Cancel.self, Wait.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List jobs in submission order.",
            discussion: """
                EXAMPLES
                  orchion job list
                  orchion job list --state failed --limit 0 -o json
                """)
        @OptionGroup var client: ClientOptions
        @Option(help: "Only jobs in this state: pending, scheduled, running, succeeded, failed, cancelled, lost.")
        var state: String?
        @Option(help: "Only jobs whose latest attempt ran on this node.") var node: String?
        @Option(help: "At most this many (0 for all).") var limit: Int = 100

        func run() async throws {
            var request = Orchion_V1_ListJobsRequest()
            if let state {
                guard let parsed = JobCommand.state(state) else {
                    throw ValidationError(
                        "--state: expected pending, scheduled, running, succeeded, failed, cancelled or lost, found '\(state)'"
                    )
                }
                request.state = parsed
            }
            if let node { request.nodeID = node }
            let limit = self.limit
            let jobs: [Orchion_V1_Job] = try await client.session { connection in
                var jobs: [Orchion_V1_Job] = []
                repeat {
                    request.pageSize = limit > 0 ? UInt32(min(1000, limit - jobs.count)) : 1000
                    let page: Orchion_V1_ListJobsResponse = try await connection.call("ListJobs", request)
                    jobs += page.jobs
                    request.pageToken = page.nextPageToken
                } while !request.pageToken.isEmpty && (limit <= 0 || jobs.count < limit)
                return jobs
            }
            guard client.output == .table else {
                return Output.print(
                    try Structured.text(Orchion_V1_ListJobsResponse.with { $0.jobs = jobs }, client.output))
            }
            guard !jobs.isEmpty else { return Output.print("no jobs") }
            Output.print(
                ColumnTable.render(
                    header: ["ID", "NAME", "STATE", "NODE", "EXIT", "AGE", "COMMAND"],
                    rows: jobs.map { job in
                        let attempt = job.attempts.last
                        return [
                            Cell(job.id), Cell(job.spec.name.isEmpty ? "-" : job.spec.name), Human.state(job.state),
                            Cell(attempt?.nodeID ?? "-"), Cell(JobCommand.exitText(job)),
                            Cell(Human.age(job.createdAt, present: job.hasCreatedAt)),
                            Cell(String(Human.command(job.spec).prefix(60))),
                        ]
                    }, style: .standardOutput))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a job: its spec, attempts, and why it is pending.",
            discussion: "EXAMPLES\n  orchion job show j-abc\n  orchion job show j-abc -o yaml")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The job's id.") var id: String

        func run() async throws {
            let job: Orchion_V1_Job = try await client.session {
                try await $0.call("GetJob", Orchion_V1_GetJobRequest.with { $0.id = id })
            }
            guard client.output == .table else { return Output.print(try Structured.text(job, client.output)) }
            JobCommand.describe(job)
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel jobs: pending ones end at once, running ones are stopped.",
            discussion: "EXAMPLES\n  orchion job cancel j-abc j-def --reason 'wrong input'")
        @OptionGroup var client: ClientOptions
        @Option(help: "Why (kept with the job).") var reason: String = ""
        @Argument(help: "The jobs' ids.") var ids: [String]

        func validate() throws {
            if ids.isEmpty { throw ValidationError("expected at least one job id") }
        }

        func run() async throws {
            let reason = self.reason
            let jobs: [Orchion_V1_Job] = try await client.session { connection in
                var jobs: [Orchion_V1_Job] = []
                for id in ids {
                    jobs.append(
                        try await connection.call(
                            "CancelJob",
                            Orchion_V1_CancelJobRequest.with {
                                $0.id = id
                                $0.reason = reason
                            }))
                }
                return jobs
            }
            guard client.output == .table else {
                return Output.print(
                    try Structured.text(Orchion_V1_ListJobsResponse.with { $0.jobs = jobs }, client.output))
            }
            let style = Style.standardOutput
            for job in jobs {
                let state = Human.state(job.state)
                Output.print(
                    "\(terminalSafe(job.id)): \(style.paint(state.text, state.colour))"
                        + (job.state.isEnded ? "" : " (cancel requested)"))
            }
        }
    }

    struct Wait: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait for jobs to end; exit with their result.",
            discussion: """
                Exits 0 when every job succeeded; else with the result of the first job (in \
                argument order) that did not: its exit code, 128+N when killed by signal N, \
                124 when it hit its timeout, 125 when cancelled, 126 when it failed without \
                an exit code. 6 when --timeout elapsed first. On a terminal, a counter of \
                the jobs done so far is shown on stderr.

                EXAMPLES
                  orchion job wait j-abc; echo $?
                  orchion job wait --timeout 10m $(orchion job submit --count 50 -- ./task)
                """)
        @OptionGroup var client: ClientOptions
        @Option(help: ArgumentHelp("Give up after this long: 30s, 10m.", valueName: "duration")) var timeout: String?
        @Argument(help: "The jobs' ids.") var ids: [String]

        func validate() throws {
            if ids.isEmpty { throw ValidationError("expected at least one job id") }
        }

        func run() async throws {
            var deadline: ContinuousClock.Instant?
            if let timeout {
                switch ConfigUnits.duration(timeout) {
                case .success(let duration): deadline = .now + duration
                case .failure(let error): throw ValidationError("--timeout: \(error)")
                }
            }
            let ids = self.ids
            let outcome: [String: JobResult]? = try await client.session { connection in
                try await JobWaiter(connection: connection, ids: ids).run(until: deadline)
            }
            guard let outcome else {
                printError("orchion: job wait: --timeout \(timeout ?? "") elapsed before the jobs ended")
                throw ExitCode(ClientExit.waitTimedOut)
            }
            let results = ids.compactMap { outcome[$0] }
            if client.output != .table {
                let listing = Google_Protobuf_Struct(
                    fields: Dictionary(
                        results.map { ($0.id, Google_Protobuf_Value(structValue: $0.summary)) },
                        uniquingKeysWith: { first, _ in first }))
                Output.print(try Structured.text(listing, client.output))
            } else if ids.count > 1 || isatty(1) == 1 {
                let style = Style.standardOutput
                for result in results {
                    let state = Human.state(result.state)
                    Output.print(
                        "\(terminalSafe(result.id)): \(style.paint(state.text, state.colour))"
                            + (result.code == 0 ? "" : " (exit \(result.code))"))
                }
            }
            if let failed = results.first(where: { $0.code != 0 }) { throw ExitCode(failed.code) }
        }
    }

    /// A job state by its lower-case name.
    static func state(_ name: String) -> Orchion_V1_JobState? {
        let states: [String: Orchion_V1_JobState] = [
            "pending": .pending, "scheduled": .scheduled, "running": .running, "succeeded": .succeeded,
            "failed": .failed, "cancelled": .cancelled, "canceled": .cancelled, "lost": .lost,
        ]
        return states[name.lowercased()]
    }

    /// The latest attempt's exit as a table shows it.
    static func exitText(_ job: Orchion_V1_Job) -> String {
        guard job.state.isEnded, let attempt = job.attempts.last else { return "-" }
        if attempt.signal != 0 { return "signal \(attempt.signal)" }
        return "\(attempt.exitCode)"
    }

    static func describe(_ job: Orchion_V1_Job) {
        let style = Style.standardOutput
        let spec = job.spec
        let state = Human.state(job.state)
        var requirements: [String] = []
        if spec.resources.cpuMillis > 0 { requirements.append("cpu \(Human.cores(spec.resources.cpuMillis))") }
        if spec.resources.memoryBytes > 0 { requirements.append("memory \(Human.bytes(spec.resources.memoryBytes))") }
        if spec.gpu.count > 0 {
            requirements.append("gpus \(spec.gpu.count)" + (spec.gpu.model.isEmpty ? "" : " (\(spec.gpu.model))"))
        }
        if !spec.arch.isEmpty { requirements.append("arch \(spec.arch)") }
        if !spec.constraints.isEmpty { requirements.append("labels \(Human.pairs(spec.constraints))") }
        var lines = [
            "ID:        \(terminalSafe(job.id))",
            "Name:      \(spec.name.isEmpty ? "-" : terminalSafe(spec.name))",
            "State:     \(style.paint(state.text, state.colour))"
                + (job.reason.isEmpty ? "" : " (\(terminalSafe(job.reason)))"),
            "Command:   \(terminalSafe(Human.command(spec)))",
            "Needs:     \(requirements.isEmpty ? "-" : terminalSafe(requirements.joined(separator: ", ")))",
            "Strategy:  \(spec.strategy.isEmpty ? "(default)" : terminalSafe(spec.strategy))"
                + "   Executor: \(spec.executor.isEmpty ? "exec" : terminalSafe(spec.executor))"
                + "   Priority: \(spec.priority)",
            "Created:   \(Human.time(job.createdAt, present: job.hasCreatedAt))"
                + "   By: \(job.submittedBy.isEmpty ? "-" : "token '\(terminalSafe(job.submittedBy))'")",
        ]
        if !job.pendingReasons.isEmpty {
            lines.append("Why pending:")
            for reason in job.pendingReasons {
                lines.append("  \(reason.nodes) node\(reason.nodes == 1 ? "" : "s"): \(terminalSafe(reason.reason))")
            }
        }
        if !job.attempts.isEmpty {
            lines.append("Attempts:")
            lines.append(
                ColumnTable.render(
                    header: ["  #", "NODE", "STATE", "EXIT", "STARTED", "FINISHED", "REASON"],
                    rows: job.attempts.map { attempt in
                        [
                            Cell("  \(attempt.number)"), Cell(attempt.nodeID), Human.state(attempt.state),
                            Cell(attempt.signal != 0 ? "signal \(attempt.signal)" : "\(attempt.exitCode)"),
                            Cell(Human.time(attempt.startedAt, present: attempt.hasStartedAt)),
                            Cell(Human.time(attempt.finishedAt, present: attempt.hasFinishedAt)),
                            Cell(attempt.reason.isEmpty ? "-" : attempt.reason),
                        ]
                    }, style: style))
        }
        Output.print(lines.joined(separator: "\n"))
    }
}

extension Orchion_V1_JobState {
    /// Whether the job changes no more (succeeded, failed, cancelled).
    var isEnded: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// How a job ended, and the exit code `job wait` gives for it.
struct JobResult: Sendable {
    let id: String
    let state: Orchion_V1_JobState
    let exitCode: Int64
    let signal: Int32
    let timedOut: Bool

    init(event: Orchion_V1_JobEvent) {
        id = event.jobID
        state = event.state
        exitCode = event.exitCode
        signal = event.signal
        timedOut = event.timedOut
    }

    init(job: Orchion_V1_Job) {
        id = job.id
        state = job.state
        exitCode = job.attempts.last?.exitCode ?? 0
        signal = job.attempts.last?.signal ?? 0
        timedOut = false
    }

    var code: Int32 {
        switch state {
        case .succeeded: return ClientExit.ok
        case .cancelled: return ClientExit.jobCancelled
        default:
            if timedOut { return ClientExit.jobTimedOut }
            if signal > 0, signal < 128 { return 128 + signal }
            if exitCode > 0, exitCode < 256 { return Int32(exitCode) }
            return ClientExit.jobNoExitCode
        }
    }

    var summary: Google_Protobuf_Struct {
        Google_Protobuf_Struct(fields: [
            "state": Google_Protobuf_Value(stringValue: Human.state(state).text),
            "exitCode": Google_Protobuf_Value(numberValue: Double(exitCode)),
            "signal": Google_Protobuf_Value(numberValue: Double(signal)),
            "timedOut": Google_Protobuf_Value(boolValue: timedOut),
            "waitExitCode": Google_Protobuf_Value(numberValue: Double(code)),
        ])
    }
}

/// Waits for jobs to end: one WatchEvents stream for all of them (resumed
/// after its last event if the server drops it), after a GetJob for each
/// that finds those already ended.
///
/// Threading: one task.
struct JobWaiter {
    let connection: ControlConnection
    let ids: [String]

    /// Every job's result, or nil when `deadline` came first.
    func run(until deadline: ContinuousClock.Instant?) async throws -> [String: JobResult]? {
        let waiting = Set(ids)
        let task = Task { () throws -> [String: JobResult] in
            let progress = Progress()
            defer { progress.finish() }
            var results: [String: JobResult] = [:]
            var after: UInt64 = 0
            let single = waiting.count == 1 ? ids.first : nil
            // Events first (so nothing ending meanwhile is missed), then the
            // jobs' current states.
            while true {
                let events = connection.stream(
                    "WatchEvents",
                    Orchion_V1_WatchEventsRequest.with {
                        $0.after = after
                        $0.jobID = single ?? ""
                    }, as: Orchion_V1_JobEvent.self)
                if after == 0 {
                    for id in ids where results[id] == nil {
                        let job: Orchion_V1_Job = try await connection.call(
                            "GetJob", Orchion_V1_GetJobRequest.with { $0.id = id })
                        if job.state.isEnded { results[id] = JobResult(job: job) }
                    }
                    if results.count == waiting.count { return results }
                }
                do {
                    for try await event in events {
                        after = max(after, event.sequence)
                        guard waiting.contains(event.jobID), event.state.isEnded, !event.retryable,
                            results[event.jobID] == nil
                        else { continue }
                        results[event.jobID] = JobResult(event: event)
                        progress.show("waiting: \(results.count)/\(waiting.count) jobs done")
                        if results.count == waiting.count { return results }
                    }
                } catch let error as RPCError where error.code == .resourceExhausted {
                    continue  // fell behind: resume after the last event seen
                }
                // The stream ended (a single job's ends at its last event):
                // read the states again.
                for id in ids where results[id] == nil {
                    let job: Orchion_V1_Job = try await connection.call(
                        "GetJob", Orchion_V1_GetJobRequest.with { $0.id = id })
                    if job.state.isEnded { results[id] = JobResult(job: job) }
                }
                if results.count == waiting.count { return results }
            }
        }
        guard let deadline else { return try await task.value }
        let timer = Task {
            try await Task.sleep(until: deadline, clock: .continuous)
            task.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await task.value
        } catch {
            if ContinuousClock.now >= deadline { return nil }
            throw error
        }
    }
}
