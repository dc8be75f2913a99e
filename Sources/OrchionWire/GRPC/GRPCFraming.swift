/// gRPC's wire details that do not depend on HTTP/2: length-prefixed
/// messages, `grpc-timeout` values and `grpc-message` encoding.
enum GRPCFraming {
    /// Prefixes one serialized message: a zero "compressed" byte and a big-endian length.
    /// Nil when the message is too long for the 32-bit length.
    static func frame(_ message: [UInt8]) -> [UInt8]? {
        guard let length = UInt32(exactly: message.count) else { return nil }
        return [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            + message
    }

    /// Parses "100m", "5S", "1H" … into milliseconds; nil when malformed.
    static func timeoutMillis(_ value: String) -> UInt64? {
        // At most 8 ASCII digits and a unit (gRPC over HTTP/2); no sign.
        let digits = value.utf8.dropLast()
        guard let unit = value.last, (1...8).contains(digits.count),
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let amount = UInt64(value.dropLast())
        else { return nil }
        func scaled(_ factor: UInt64) -> UInt64? {
            let (product, overflow) = amount.multipliedReportingOverflow(by: factor)
            return overflow ? nil : product
        }
        switch unit {
        case "H": return scaled(3_600_000)
        case "M": return scaled(60_000)
        case "S": return scaled(1_000)
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

/// Splits a byte stream into gRPC messages as data arrives. Holds at most
/// one incomplete message (its declared length is checked against
/// `maxMessageBytes` as soon as its 5-byte prefix is in).
struct MessageReader {
    private var buffer: [UInt8] = []
    /// Where the unread bytes of `buffer` begin.
    private var start = 0
    /// The largest message accepted, in bytes.
    let maxMessageBytes: Int

    init(maxMessageBytes: Int) { self.maxMessageBytes = maxMessageBytes }

    /// Whether bytes of an incomplete message are buffered.
    var hasPartialMessage: Bool { buffer.count > start }

    /// Bytes of the incomplete message held.
    var bufferedBytes: Int { buffer.count - start }

    /// Adds bytes; returns the complete messages now available.
    mutating func append(_ bytes: UnsafeRawBufferPointer) throws(RPCError) -> [[UInt8]] {
        buffer += bytes
        var messages: [[UInt8]] = []
        while buffer.count - start >= 5 {
            guard buffer[start] == 0 else {
                throw RPCError(.unimplemented, "compressed messages are not supported: send grpc-encoding identity")
            }
            let length =
                Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8
                | Int(buffer[start + 4])
            guard length <= maxMessageBytes else {
                throw RPCError(
                    .resourceExhausted, "message of \(length) bytes exceeds the maximum of \(maxMessageBytes)")
            }
            guard buffer.count - start - 5 >= length else { break }
            messages.append(Array(buffer[(start + 5)..<(start + 5 + length)]))
            start += 5 + length
        }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 << 10)
            start = 0
        } else if start > 0 {
            buffer.removeFirst(start)  // once per append, not once per message
            start = 0
        }
        return messages
    }
}
