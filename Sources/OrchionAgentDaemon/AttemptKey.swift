/// One attempt of one job: what the agent runs once.
///
/// Threading: a value; safe anywhere.
public struct AttemptKey: Sendable, Hashable, CustomStringConvertible {
    public let jobID: String
    public let attempt: UInt32

    public init(_ jobID: String, _ attempt: UInt32) {
        self.jobID = jobID
        self.attempt = attempt
    }

    public var description: String { "\(jobID)#\(attempt)" }
}
