/// HTTP/1.1: the input is everything a client sends on one connection
/// (one request, several pipelined ones, or garbage). Seeds carry the
/// harness's client token, so authenticated routes are reachable. An input
/// whose length is a multiple of 3 is sent by a peer that resets the
/// connection as soon as the first bytes of an answer arrive.
enum HTTP1Harness {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard !input.isEmpty else { return }
        // An input that starts like the HTTP/2 preface belongs to the other target.
        if input.starts(with: FuzzServer.preface.prefix(input.count)) { return }
        let vanish: (([UInt8]) -> Bool)? = input.count % 3 == 0 ? { !$0.isEmpty } : nil
        FuzzServer.shared.exchange(prefix: [], input, vanish: vanish)
    }
}
