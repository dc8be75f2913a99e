import OrchionWire

/// gRPC framing as pure functions, with properties that must hold for any input.
///
/// Layout: byte 0 picks the reader's message limit, byte 1 the chunk size
/// (1–256) the rest is fed in; the rest is the byte stream of a call. The
/// same rest, as text, is also a `grpc-timeout` value and a `grpc-message`.
enum GRPCFramingHarness {
    static let limits = [0, 1, 5, 64, 4 << 20]

    static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 2 else { return }
        let limit = limits[Int(input[0]) % limits.count]
        let chunkSize = Int(input[1]) + 1
        let stream = Array(input.dropFirst(2))
        checkReader(stream, limit: limit, chunkSize: chunkSize)
        let text = String(decoding: stream, as: UTF8.self)
        checkTimeout(text)
        checkMessageEncoding(text)
    }

    /// The reader yields the same messages however the stream is split, and
    /// re-framing them gives back the bytes they came from.
    static func checkReader(_ stream: [UInt8], limit: Int, chunkSize: Int) {
        var chunks: [[UInt8]] = []
        var start = 0
        while start < stream.count {
            let end = min(start + chunkSize, stream.count)
            chunks.append(Array(stream[start..<end]))
            start = end
        }
        let whole = GRPCFramingSeam.readMessages([stream], maxMessageBytes: limit)
        let split = GRPCFramingSeam.readMessages(chunks, maxMessageBytes: limit)
        switch (whole, split) {
        case (.success(let a), .success(let b)):
            precondition(a == b, "split reading gave \(b.count) messages, whole reading \(a.count)")
            let reframed = a.compactMap(GRPCFramingSeam.frame).flatMap { $0 }
            precondition(reframed.count >= a.count * 5, "a message within the limit could not be framed")
            precondition(stream.starts(with: reframed), "re-framed messages differ from the stream they came from")
            precondition(a.allSatisfy { $0.count <= limit }, "a message over the limit of \(limit) was accepted")
        case (.failure, .failure):
            break
        default:
            preconditionFailure("split and whole reading disagree on whether the stream is valid")
        }
    }

    /// A parsed timeout is a whole number of milliseconds no longer than
    /// the longest value gRPC allows (8 digits of hours).
    static func checkTimeout(_ text: String) {
        guard let millis = GRPCFramingSeam.timeoutMillis(text) else { return }
        precondition(millis <= 99_999_999 * 3_600_000, "grpc-timeout \(text.debugDescription) parsed as \(millis) ms")
    }

    /// `grpc-message` encoding is printable ASCII without raw `%` and decodes back to the text.
    static func checkMessageEncoding(_ text: String) {
        let encoded = GRPCFramingSeam.encodeMessage(text)
        precondition(
            encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "grpc-message encoding left a byte outside ASCII")
        let decoded = GRPCFramingSeam.decodeMessage(encoded)
        precondition(decoded == text, "grpc-message \(text.debugDescription) decoded as \(decoded.debugDescription)")
    }
}
