/// HTTP/1.1: the input is everything a client sends on one connection
/// (one request, several pipelined ones, or garbage). Seeds carry the
/// harness's client token, so authenticated routes are reachable.
enum HTTP1Harness {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard !input.isEmpty else { return }
        // An input that starts like the HTTP/2 preface belongs to the other target.
        if input.starts(with: FuzzServer.preface.prefix(input.count)) { return }
        FuzzServer.shared.exchange(prefix: [], input)
    }
}
