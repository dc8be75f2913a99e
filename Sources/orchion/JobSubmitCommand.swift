import ArgumentParser
import OrchionCore
import OrchionJobSpec
import OrchionProto
import OrchionServer
import SwiftProtobuf

/// `orchion job submit`: one job (or an array of copies) from flags and the
/// command after `--`, or the specs of YAML files; sent with `SubmitJobs`,
/// so a whole batch is accepted in one call and one commit.
struct JobSubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job: a command after --, or YAML job spec files.",
        discussion: """
            Prints the new jobs' ids, one a line (-o json/yaml: a SubmitJobsResponse). \
            A batch is accepted whole or not at all; more than \(maxPerCall) jobs go \
            in several calls, each accepted whole. With --count N, job i of the array \
            gets \(arrayIndexVariable)=i (0 to N-1) and \(arrayCountVariable)=N in its environment.

            EXAMPLES
              orchion job submit -- echo hello
              orchion job submit --cpu 2 --mem 4GiB --name build -- make -j2
              orchion job submit --gpus 1 --gpu-model A100 -- python3 train.py
              orchion job submit --arch aarch64 --label role=pi -- uptime
              orchion job submit --count 100 -- sh -c 'echo task $\(arrayIndexVariable)'
              orchion job submit jobs/*.yaml

            \(ClientExit.reference)
            """)

    static let maxPerCall = 5_000
    static let arrayIndexVariable = JobSpecFile.arrayIndexVariable
    static let arrayCountVariable = JobSpecFile.arrayCountVariable

    @OptionGroup var client: ClientOptions

    @Option(help: "A name for the job (need not be unique).") var name: String?
    @Option(help: ArgumentHelp("CPU cores: 2, 0.5 or 500m (millicores).", valueName: "cores")) var cpu: String?
    @Option(help: ArgumentHelp("Memory: 512MiB, 4GiB (4G and 4Gi mean 4GiB too).", valueName: "size")) var mem: String?
    @Option(help: "Number of GPUs.") var gpus: UInt32?
    @Option(name: .customLong("gpu-model"), help: "A substring the GPU model must contain (case-insensitive).")
    var gpuModel: String?
    @Option(
        help: ArgumentHelp(
            "A node label the node must carry, as key=value (repeatable).", valueName: "key=value"))
    var label: [String] = []
    @Option(help: "The architecture the node must report (see `orchion node list`): x86_64, aarch64, ...")
    var arch: String?
    @Option(help: "The scheduler plugin to place it with (default: the server's).") var strategy: String?
    @Option(help: "The executor plugin to run it with (default: exec).") var executor: String?
    @Option(help: "Higher runs first.") var priority: Int32?
    @Option(help: "How many times to try again after a failure.") var retries: UInt32?
    @Option(help: ArgumentHelp("Wall-clock limit per attempt: 30s, 5m, 1h30m.", valueName: "duration"))
    var timeout: String?
    @Option(help: ArgumentHelp("An environment variable for the job (repeatable).", valueName: "key=value"))
    var env: [String] = []
    @Option(help: "The working directory on the node.") var cwd: String?
    @Option(help: "Submit N copies (an array job).") var count: Int = 1

    @Argument(
        help: ArgumentHelp("YAML job spec files, or -- and the command with its arguments.", valueName: "file | -- cmd")
    )
    var arguments: [String] = []

    /// The command: the arguments after `--` on the command line (the
    /// parser hands files and command over as one list; `--` splits them).
    var command: [String] {
        let line = CommandLine.arguments
        guard let terminator = line.firstIndex(of: "--") else { return [] }
        return Array(arguments.suffix(min(arguments.count, line.count - terminator - 1)))
    }

    /// The YAML files: the arguments before `--`.
    var files: [String] { Array(arguments.dropLast(command.count)) }

    /// Whether the command line has `--`.
    private var hasTerminator: Bool { CommandLine.arguments.contains("--") }

    func validate() throws {
        if !files.isEmpty, !command.isEmpty {
            throw ValidationError("expected YAML files or a command after --, found both")
        }
        if files.isEmpty, command.isEmpty {
            throw ValidationError(
                hasTerminator
                    ? "expected a command after --, found none"
                    : "expected a command after -- (orchion job submit -- CMD ARGS...) or YAML files")
        }
        if !files.isEmpty, !flagsGiven.isEmpty {
            throw ValidationError(
                "\(flagsGiven.joined(separator: ", ")) apply to a command after --; a YAML file says it all itself")
        }
        guard (1...1_000_000).contains(count) else {
            throw ValidationError("--count: expected 1 to 1000000, found \(count)")
        }
    }

    /// The job flags given (refused with files).
    private var flagsGiven: [String] {
        var given: [String] = []
        let flags: [(String, Bool)] = [
            ("--name", name != nil), ("--cpu", cpu != nil), ("--mem", mem != nil), ("--gpus", gpus != nil),
            ("--gpu-model", gpuModel != nil), ("--label", !label.isEmpty), ("--arch", arch != nil),
            ("--strategy", strategy != nil), ("--executor", executor != nil), ("--priority", priority != nil),
            ("--retries", retries != nil), ("--timeout", timeout != nil), ("--env", !env.isEmpty),
            ("--cwd", cwd != nil), ("--count", count != 1),
        ]
        for (flag, set) in flags where set { given.append(flag) }
        return given
    }

    func run() async throws {
        let requests: [Orchion_V1_SubmitJobRequest]
        do throws(ClientFailure) {
            requests = files.isEmpty ? try fromFlags() : try fromFiles()
        } catch {
            printError("orchion: \(error.description)")
            throw ExitCode(error.code)
        }
        let ids = try await client.session { connection in try await Self.submit(requests, on: connection) }
        let reply = Orchion_V1_SubmitJobsResponse.with { $0.jobIds = ids }
        guard client.output == .table else { return Output.print(try Structured.text(reply, client.output)) }
        Output.print(ids.joined(separator: "\n"))
    }

    /// Sends `requests` in calls of at most `maxPerCall` jobs and 3 MiB,
    /// with a counter on a terminal; the ids in order.
    static func submit(_ requests: [Orchion_V1_SubmitJobRequest], on connection: ControlConnection) async throws
        -> [String]
    {
        let progress = Progress()
        defer { progress.finish() }
        var ids: [String] = []
        ids.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            var end = start
            var bytes = 0
            while end < requests.count, end - start < maxPerCall {
                let size = (try? requests[end].serializedBytes() as [UInt8])?.count ?? 0
                if end > start, bytes + size > 3 << 20 { break }
                bytes += size + 8
                end += 1
            }
            if requests.count >= 1000 {
                progress.show("submitting jobs \(start + 1)-\(end) of \(requests.count)", force: true)
            }
            let reply: Orchion_V1_SubmitJobsResponse = try await connection.call(
                "SubmitJobs", Orchion_V1_SubmitJobsRequest.with { $0.jobs = Array(requests[start..<end]) })
            ids += reply.jobIds
            start = end
        }
        return ids
    }

    /// The requests the flags and the command describe (`count` copies).
    func fromFlags() throws(ClientFailure) -> [Orchion_V1_SubmitJobRequest] {
        var spec = Orchion_V1_JobSpec()
        spec.argv = command
        if let name { spec.name = name }
        if let cpu { spec.resources.cpuMillis = try Self.millicores(cpu) }
        if let mem { spec.resources.memoryBytes = try Self.bytes(mem) }
        if let gpus {
            spec.gpu.count = gpus
            spec.resources.gpus = gpus
        }
        if let gpuModel { spec.gpu.model = gpuModel }
        spec.constraints = try Self.pairs(label, flag: "--label")
        spec.env = try Self.pairs(env, flag: "--env")
        if let arch { spec.arch = arch }
        if let strategy { spec.strategy = strategy }
        if let executor { spec.executor = executor }
        if let priority { spec.priority = priority }
        if let retries { spec.retry.maxAttempts = retries &+ 1 }
        if let timeout {
            switch ConfigUnits.duration(timeout) {
            case .success(let duration):
                let (seconds, attoseconds) = duration.components
                spec.timeout = Google_Protobuf_Duration(
                    seconds: seconds, nanos: Int32(clamping: attoseconds / 1_000_000_000))
            case .failure(let error): throw ClientFailure(ClientExit.usage, "--timeout: \(error)")
            }
        }
        if let cwd { spec.cwd = cwd }
        guard count > 1 else { return [.with { $0.spec = spec }] }
        return (0..<count).map { index in
            var copy = spec
            copy.env[Self.arrayIndexVariable] = String(index)
            copy.env[Self.arrayCountVariable] = String(count)
            if !copy.name.isEmpty { copy.name += "[\(index)]" }
            return .with { $0.spec = copy }
        }
    }

    /// The requests of the YAML files: every file read and checked before
    /// anything is sent; every problem reported (file:line:column, the
    /// field, a suggestion for a typo).
    func fromFiles() throws(ClientFailure) -> [Orchion_V1_SubmitJobRequest] {
        let requests: [Orchion_V1_SubmitJobRequest]
        do throws(JobSpecFileError) {
            requests = try JobSpecFile.load(paths: files)
        } catch {
            let count = error.problems.count
            throw ClientFailure(
                ClientExit.error,
                "\(count == 1 ? "a job spec is" : "job specs are") refused, nothing was submitted:\n"
                    + error.problems.map { "  " + terminalSafe($0.description) }.joined(separator: "\n"))
        }
        guard !requests.isEmpty else {
            throw ClientFailure(
                ClientExit.error, "no job in \(files.joined(separator: ", ")): expected a kind: Job document")
        }
        return requests
    }

    /// "2" → 2000, "0.5" → 500, "500m" → 500.
    static func millicores(_ text: String) throws(ClientFailure) -> UInt64 {
        let problem = ClientFailure(ClientExit.usage, "--cpu: expected cores such as 2, 0.5 or 500m, found '\(text)'")
        if text.hasSuffix("m") {
            guard let millis = UInt64(text.dropLast()), millis > 0 else { throw problem }
            return millis
        }
        guard let cores = Double(text), cores > 0, cores <= 1_000_000 else { throw problem }
        let millis = (cores * 1000).rounded()
        guard millis >= 1 else { throw problem }
        return UInt64(millis)
    }

    /// A size: ConfigUnits' forms, and K/M/G/T or Ki/Mi/Gi/Ti as powers of 1024.
    static func bytes(_ text: String) throws(ClientFailure) -> UInt64 {
        var form = text
        if let last = form.last, "KMGT".contains(last) { form += "iB" } else if form.hasSuffix("i") { form += "B" }
        switch ConfigUnits.size(form) {
        case .success(let bytes) where bytes > 0: return UInt64(bytes)
        default: throw ClientFailure(ClientExit.usage, "--mem: expected \(ConfigUnits.sizeForm), found '\(text)'")
        }
    }

    static func pairs(_ items: [String], flag: String) throws(ClientFailure) -> [String: String] {
        var map: [String: String] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw ClientFailure(ClientExit.usage, "\(flag): expected key=value, found '\(item)'")
            }
            map[String(item[..<equals])] = String(item[item.index(after: equals)...])
        }
        return map
    }
}
