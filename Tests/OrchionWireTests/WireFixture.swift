import Foundation
import OrchionLoop
import OrchionWire
import TestSupport

/// A real WireServer on 127.0.0.1 (a free port) serving TestControl, on its own loop thread.
final class WireFixture: @unchecked Sendable {
    static let clientToken = "client-token-0123456789"
    static let joinToken = "join-token-9876543210"

    let control = TestControl()
    let thread: LoopThread
    private(set) var port: UInt16 = 0
    private var server: WireServer?

    init(limits: WireLimits = WireLimits()) async throws {
        thread = try LoopThread()
        let loop = thread.loop
        let control = self.control
        let authenticator = Authenticator(joinToken: Self.joinToken, clientTokens: ["tests": Self.clientToken])
        let (server, port) = try await loop.submit {
            let server = try APIServer.start(
                loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0), limits: limits,
                authenticator: authenticator, control: control, agent: TestAgent())
            return (LoopBound(server, loop: loop), server.address.port)
        }
        self.port = port
        try await loop.submit { self.server = server.wrapped }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Waits (at most 10 s) until the handlers have seen `count` abandoned
    /// streams, and returns how many they saw.
    func cancelledStreams(reaching count: Int) async throws -> Int {
        for _ in 0..<500 where control.cancelledStreams < count { try await Task.sleep(for: .milliseconds(20)) }
        return control.cancelledStreams
    }

    /// Stops the server, waits (bounded) for connections to wind down, and
    /// shuts the loop down, failing if any handle is left open.
    func stop() async throws {
        let loop = thread.loop
        try await loop.submit { self.server?.close() }
        for _ in 0..<100 {
            if try await loop.submit({ loop.openHandleKinds().isEmpty }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try thread.shutdown()
    }

    /// curl with the client token unless `token` says otherwise.
    func curl(_ arguments: [String], token: String? = WireFixture.clientToken) throws -> CommandResult {
        var command = ["curl", "-sS", "--max-time", "10"]
        if let token { command += ["-H", "Authorization: Bearer \(token)"] }
        return try runCommand(command + arguments, timeout: 20)
    }

    /// Runs a Python snippet with the port as argv[1] (for raw-socket cases).
    func python(_ script: String) throws -> CommandResult {
        try runCommand(["python3", "-c", script, String(port)], timeout: 20)
    }

    /// Sends `payload` on a raw socket (in two writes 0.2 s apart when
    /// `pauseAfter` is set) and returns everything read until the server
    /// closes, resets, or `seconds` pass.
    func rawExchange(_ payload: String, pauseAfter: Int? = nil, seconds: Int = 3) throws -> String {
        try python(
            """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.settimeout(\(seconds))
            data = \(pythonBytes(payload))
            cut = \(pauseAfter.map(String.init) ?? "None")
            if cut is None:
                s.sendall(data)
            else:
                s.sendall(data[:cut]); time.sleep(0.2); s.sendall(data[cut:])
            out = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    out += chunk
            except (socket.timeout, ConnectionResetError):
                pass
            sys.stdout.write(out.decode("latin-1"))
            """
        ).stdout
    }
}

/// `text`'s UTF-8 bytes as a Python bytes literal.
func pythonBytes(_ text: String) -> String {
    "b'" + text.utf8.map { String(format: "\\x%02x", $0) }.joined() + "'"
}
