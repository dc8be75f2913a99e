/// One problem in a job spec file: where it is, which field, what is wrong.
/// Its description reads "unknown field `gpu` at job.yaml:7:3; did you mean
/// `gpus`?".
///
/// Threading: a value; safe anywhere.
public struct JobSpecProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file as the caller named it.
    public var file: String
    /// Line and column of the offending key or value, from 1.
    public var line: Int
    public var column: Int
    /// The field's path in the document, e.g. `resources.gpu` or `argv[0]`;
    /// empty for the document itself.
    public var field: String
    /// What is wrong, e.g. "unknown field `gpu`".
    public var message: String
    /// What was expected, or a suggestion ("did you mean `gpus`?"); may be empty.
    public var hint: String

    /// Creates a problem.
    public init(file: String, line: Int, column: Int, field: String, message: String, hint: String = "") {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(message) at \(file):\(line):\(column)" + (hint.isEmpty ? "" : "; \(hint)")
    }
}

/// Why job spec files were refused: every problem found, in file order
/// (files in the order given).
///
/// Threading: a value; safe anywhere.
public struct JobSpecFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// At least one problem.
    public var problems: [JobSpecProblem]

    /// Creates an error of `problems`.
    public init(_ problems: [JobSpecProblem]) {
        self.problems = problems
    }

    /// One problem per line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
