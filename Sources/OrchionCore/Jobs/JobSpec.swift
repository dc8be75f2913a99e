/// What a user asks to run: the process, where it may run, how often to try
/// it and for how long. Mirrors `orchion.v1.JobSpec`; `id` is the schema's
/// `Job.id`, carried here so an executor can name the job it prepares.
///
/// Threading: a value; safe anywhere.
public struct JobSpec: Sendable, Hashable, Codable {
    /// Longest `name`, in UTF-8 bytes.
    public static let nameLimit = 253

    /// A job identifier, unique in the cluster.
    public var id: String
    /// A human name; need not be unique; may be empty.
    public var name: String
    /// A shell command line; exclusive with `argv`.
    public var command: String?
    /// A program and its arguments; exclusive with `command`.
    public var argv: [String]
    /// Extra environment variables.
    public var env: [String: String]
    /// Working directory, or nil for the agent's.
    public var cwd: String?
    /// User to run as, or nil for the agent's.
    public var user: String?
    /// Wall-clock limit per attempt in milliseconds; zero for none (the schema's unset `timeout`).
    public var timeoutMillis: UInt64
    /// How often a failed attempt is tried again.
    public var retry: RetryPolicy
    /// Where it may run.
    public var requirements: JobRequirements
    /// The scheduler plugin to place it with, or nil for the default.
    public var strategy: String?
    /// The executor plugin to run it with, or nil for "exec".
    public var executor: String?

    /// Creates a job spec.
    public init(
        id: String, name: String = "", command: String? = nil, argv: [String] = [], env: [String: String] = [:],
        cwd: String? = nil, user: String? = nil, timeoutMillis: UInt64 = 0,
        retry: RetryPolicy = .never, requirements: JobRequirements = JobRequirements(), strategy: String? = nil,
        executor: String? = nil
    ) {
        self.id = id
        self.name = name
        self.command = command
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.user = user
        self.timeoutMillis = timeoutMillis
        self.retry = retry
        self.requirements = requirements
        self.strategy = strategy
        self.executor = executor
    }

    /// Checks the spec and throws the first problem found.
    /// The longest single argument or `NAME=VALUE` the kernel execs
    /// (MAX_ARG_STRLEN), plus one.
    public static let execStringLimit = 128 * 1024

    public func validate() throws(JobSpecError) {
        if id.isEmpty || id.utf8.count > 128 || id.contains(where: { $0.isWhitespace || $0 == "/" }) {
            throw .invalidField("id", expected: "1–128 characters without spaces or '/'", found: id)
        }
        if name.utf8.count > Self.nameLimit || name.contains(where: { $0.isNewline }) {
            throw .invalidField(
                "name", expected: "at most \(Self.nameLimit) bytes on one line",
                found: "\(name.utf8.count) bytes\(name.contains(where: { $0.isNewline }) ? " with a line break" : "")")
        }
        switch (command, argv.isEmpty) {
        case (nil, true), (""?, true):
            throw .invalidField("command", expected: "a command or an argv", found: "neither")
        case (_?, false):
            throw .invalidField("command", expected: "either a command or an argv", found: "both")
        default: break
        }
        if argv.first == "" { throw .invalidField("argv", expected: "a program name in argv[0]", found: "\"\"") }
        for key in env.keys.sorted() where key.isEmpty || key.contains("=") || key.contains("\0") {
            throw .invalidField("env", expected: "variable names without '=' or NUL", found: key)
        }
        let strings = [name, command, cwd, user, strategy, executor].compactMap { $0 } + argv + Array(env.values)
        if strings.contains(where: { $0.utf8.contains(0) }) {
            throw .invalidField("spec", expected: "strings without NUL bytes", found: "a NUL byte")
        }
        // Linux takes no single argument or environment string longer than
        // MAX_ARG_STRLEN (32 pages): the exec would fail on the node with
        // E2BIG, naming neither; say which here.
        let execStrings =
            [("command", command)] + argv.enumerated().map { ("argv[\($0)]", $1) }
            + env.keys.sorted().map { ("env.\($0)", "\($0)=\(env[$0] ?? "")") }
        for case let (field, text?) in execStrings where text.utf8.count >= Self.execStringLimit {
            throw .invalidField(
                field,
                expected: "under \(Self.execStringLimit) bytes (the kernel's limit for one argument or variable)",
                found: "\(text.utf8.count) bytes")
        }
        try retry.validate()
        try requirements.validate()
    }
}

/// Why a job spec was refused.
public enum JobSpecError: Error, Hashable, CustomStringConvertible {
    /// A field holds something unacceptable.
    case invalidField(String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .invalidField(field, expected, found):
            "invalid job spec field '\(field)': expected \(expected), found \(found)"
        }
    }
}
