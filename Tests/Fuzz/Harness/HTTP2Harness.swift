/// HTTP/2 with prior knowledge, as gRPC clients speak it: the harness sends
/// the connection preface and an empty SETTINGS frame, and the input is
/// every frame after them (SETTINGS, HEADERS with HPACK blocks, DATA with
/// gRPC messages, RST_STREAM, WINDOW_UPDATE, GOAWAY …).
enum HTTP2Harness {
    /// The preface, then SETTINGS with no parameters on stream 0.
    static let prefix = FuzzServer.preface + [0, 0, 0, 0x04, 0, 0, 0, 0, 0]

    static func run(_ input: UnsafeRawBufferPointer) {
        FuzzServer.shared.exchange(prefix: prefix, input)
    }
}
