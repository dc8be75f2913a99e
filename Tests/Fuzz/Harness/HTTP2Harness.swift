/// HTTP/2 with prior knowledge, as gRPC clients speak it: the harness sends
/// the connection preface and an empty SETTINGS frame, and the input is
/// every frame after them (SETTINGS, HEADERS with HPACK blocks, DATA with
/// gRPC messages, RST_STREAM, WINDOW_UPDATE, GOAWAY …). An input whose
/// length is a multiple of 3 is sent by a peer that resets the connection
/// as soon as a frame on a stream (an answer) arrives.
enum HTTP2Harness {
    /// The preface, then SETTINGS with no parameters on stream 0.
    static let prefix = FuzzServer.preface + [0, 0, 0, 0x04, 0, 0, 0, 0, 0]

    static func run(_ input: UnsafeRawBufferPointer) {
        let vanish: (([UInt8]) -> Bool)? = input.count % 3 == 0 ? { hasStreamFrame($0) } : nil
        FuzzServer.shared.exchange(prefix: prefix, input, vanish: vanish)
    }

    /// Whether `bytes` (what the server sent) hold a whole frame on a
    /// stream: an answer, not only the connection's own SETTINGS and PINGs.
    static func hasStreamFrame(_ bytes: [UInt8]) -> Bool {
        var at = 0
        while bytes.count - at >= 9 {
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            let stream =
                (Int(bytes[at + 5]) & 0x7F) << 24 | Int(bytes[at + 6]) << 16 | Int(bytes[at + 7]) << 8
                | Int(bytes[at + 8])
            if stream != 0 { return true }
            at += 9 + length
        }
        return false
    }
}
