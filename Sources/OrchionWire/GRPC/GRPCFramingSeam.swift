/// gRPC's framing functions at `package` access, for the fuzz harness
/// (Tests/Fuzz) and its regression tests; nothing outside the package sees
/// them. Thin: each forwards to the function the server itself uses.
///
/// Threading: pure functions, any thread.
package enum GRPCFramingSeam {
    /// Feeds `chunks` in order to one `MessageReader`: the messages read, or
    /// the error the reader threw (after which the stream is dead).
    package static func readMessages(_ chunks: [[UInt8]], maxMessageBytes: Int) -> Result<[[UInt8]], RPCError> {
        var reader = MessageReader(maxMessageBytes: maxMessageBytes)
        var messages: [[UInt8]] = []
        for chunk in chunks {
            let read = chunk.withUnsafeBytes { bytes in
                Result { () throws(RPCError) in try reader.append(bytes) }
            }
            switch read {
            case .success(let more): messages += more
            case .failure(let error): return .failure(error)
            }
        }
        return .success(messages)
    }

    /// `GRPCFraming.frame`.
    package static func frame(_ message: [UInt8]) -> [UInt8]? { GRPCFraming.frame(message) }

    /// `GRPCFraming.timeoutMillis`.
    package static func timeoutMillis(_ value: String) -> UInt64? { GRPCFraming.timeoutMillis(value) }

    /// `GRPCFraming.encodeMessage`.
    package static func encodeMessage(_ text: String) -> String { GRPCFraming.encodeMessage(text) }

    /// How the client decodes `grpc-message` (percent-decoding, `+` kept).
    package static func decodeMessage(_ value: String) -> String { percentDecoded(value, plusIsSpace: false) }
}
