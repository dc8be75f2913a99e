/// How a child process ended: the exit code and signal an attempt records
/// (`orchion.v1.Attempt.exit_code` and `signal`).
///
/// Threading: a value; safe anywhere.
public struct ExitStatus: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The exit code; meaningful when `signal` is 0.
    public let code: Int64
    /// The signal that ended it, or 0.
    public let signal: Int32

    public init(code: Int64, signal: Int32) {
        self.code = code
        self.signal = signal
    }

    public var description: String { signal != 0 ? "killed by signal \(signal)" : "exited with code \(code)" }
}
