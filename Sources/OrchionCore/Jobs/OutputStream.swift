/// Which stream a chunk of a job's output came from. Mirrors `orchion.v1.LogStream`.
public enum OutputStream: String, Sendable, Hashable, Codable, CaseIterable {
    /// The process's standard output.
    case stdout
    /// The process's standard error.
    case stderr
}
