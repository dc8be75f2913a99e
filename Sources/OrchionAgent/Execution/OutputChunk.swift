import OrchionCore

/// A piece of a job's output: which stream, where in it, and the bytes.
///
/// Threading: a value; safe anywhere.
public struct OutputChunk: Sendable, Hashable {
    /// stdout or stderr.
    public let stream: OutputStream
    /// The offset of `bytes[0]` in its stream (each stream counts from 0).
    public let offset: UInt64
    public let bytes: [UInt8]

    public init(stream: OutputStream, offset: UInt64, bytes: [UInt8]) {
        self.stream = stream
        self.offset = offset
        self.bytes = bytes
    }
}
