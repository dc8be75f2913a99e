/// gRPC's wire details that do not depend on HTTP/2: length-prefixed
/// messages, `grpc-timeout` values and `grpc-message` encoding.
enum GRPCFraming {
    /// Prefixes one serialized message: a zero "compressed" byte and a big-endian length.
    static func frame(_ message: [UInt8]) -> [UInt8] {
        let length = UInt32(message.count)
        return [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            + message
    }

    /// Parses "100m", "5S", "1H" … into milliseconds; nil when malformed.
    static func timeoutMillis(_ value: String) -> UInt64? {
        guard let unit = value.last, let amount = UInt64(value.dropLast()), value.count <= 9 else { return nil }
        switch unit {
        case "H": return amount * 3_600_000
        case "M": return amount * 60_000
        case "S": return amount * 1_000
        case "m": return amount
        case "u": return max(amount / 1_000, 1)
        case "n": return max(amount / 1_000_000, 1)
        default: return nil
        }
    }

    /// Percent-encodes what `grpc-message` may not carry raw.
    static func encodeMessage(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// Splits a byte stream into gRPC messages as data arrives.
struct MessageReader {
    private var buffer: [UInt8] = []
    /// The largest message accepted, in bytes.
    let maxMessageBytes: Int

    init(maxMessageBytes: Int) { self.maxMessageBytes = maxMessageBytes }

    /// Whether bytes of an incomplete message are buffered.
    var hasPartialMessage: Bool { !buffer.isEmpty }

    /// Adds bytes; returns the complete messages now available.
    mutating func append(_ bytes: UnsafeRawBufferPointer) throws(RPCError) -> [[UInt8]] {
        buffer += bytes
        var messages: [[UInt8]] = []
        while buffer.count >= 5 {
            guard buffer[0] == 0 else {
                throw RPCError(.unimplemented, "compressed messages are not supported: send grpc-encoding identity")
            }
            let length = Int(buffer[1]) << 24 | Int(buffer[2]) << 16 | Int(buffer[3]) << 8 | Int(buffer[4])
            guard length <= maxMessageBytes else {
                throw RPCError(
                    .resourceExhausted, "message of \(length) bytes exceeds the maximum of \(maxMessageBytes)")
            }
            guard buffer.count >= 5 + length else { break }
            messages.append(Array(buffer[5..<(5 + length)]))
            buffer.removeFirst(5 + length)
        }
        return messages
    }
}
