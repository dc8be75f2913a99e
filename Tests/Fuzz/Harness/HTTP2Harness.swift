/// HTTP/2 with prior knowledge, as gRPC clients speak it: the harness sends
/// the connection preface and an empty SETTINGS frame, and the input is
/// every frame after them (SETTINGS, HEADERS with HPACK blocks, DATA with
/// gRPC messages, RST_STREAM, WINDOW_UPDATE, GOAWAY …). An input whose
/// length is a multiple of 3 is sent by a peer that then resets the
/// connection without reading the answers.
enum HTTP2Harness {
    /// The preface, then SETTINGS with no parameters on stream 0.
    static let prefix = FuzzServer.preface + [0, 0, 0, 0x04, 0, 0, 0, 0, 0]

    static func run(_ input: UnsafeRawBufferPointer) {
        FuzzServer.shared.exchange(prefix: prefix, input, vanish: input.count % 3 == 0)
    }
}
