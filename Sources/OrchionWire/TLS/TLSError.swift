import COpenSSL

/// A TLS failure: what was being done and why, with OpenSSL's reason when
/// it gave one.
///
/// Threading: a value; safe anywhere.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    /// What failed and why.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// `what`, with the reasons on the calling thread's OpenSSL error queue
    /// (which this empties).
    static func openSSL(_ what: String) -> TLSError {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return TLSError(reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))")
    }
}
