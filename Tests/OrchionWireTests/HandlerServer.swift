import Foundation
import OrchionLoop
import OrchionWire
import Synchronization
import TestSupport

/// A real WireServer on 127.0.0.1 (a free port) with a plain HTTP/1.1
/// handler, on its own loop thread; its counters can be read while it runs.
final class HandlerServer: Sendable {
    let thread: LoopThread
    let port: UInt16
    private let server: LoopBound<WireServer>

    init(
        limits: WireLimits = WireLimits(), handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void
    ) async throws {
        thread = try LoopThread()
        let loop = thread.loop
        let (server, port) = try await loop.submit {
            let server = try WireServer(
                loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0), limits: limits, http1: handler,
                http2: { socket, _ in socket.close() })
            return (LoopBound(server, loop: loop), server.address.port)
        }
        self.server = server
        self.port = port
    }

    /// Reads the server on its loop thread.
    func probe<T: Sendable>(_ body: @escaping @Sendable (WireServer) -> T) async throws -> T {
        let server = self.server
        return try await thread.loop.submit { body(server.wrapped) }
    }

    /// Polls `condition` on the server every 10 ms for at most `seconds`;
    /// returns whether it held.
    func wait(seconds: Double = 10, until condition: @escaping @Sendable (WireServer) -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await probe(condition) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await probe(condition)
    }

    /// Runs a Python snippet with the port as argv[1].
    func python(_ script: String, timeout: Double = 30) throws -> CommandResult {
        try runCommand(["python3", "-c", script, String(port)], timeout: timeout)
    }

    /// Stops listening, waits (bounded) for connections to close, shuts the loop down.
    func stop() async throws {
        let loop = thread.loop
        let server = self.server
        try await loop.submit { server.wrapped.close() }
        for _ in 0..<250 {
            if try await loop.submit({ loop.openHandleKinds().isEmpty }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try thread.shutdown()
    }
}

/// A counter any thread may bump.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Samples `body` every 10 ms while `work` runs (on another thread), and
/// returns work's result with the largest sample.
func sampling<T: Sendable>(
    _ body: @escaping @Sendable () async throws -> Int, while work: @escaping @Sendable () throws -> T
) async throws -> (T, Int) {
    let finished = Counter()
    let task = Task.detached {
        defer { finished.increment() }
        return try work()
    }
    var largest = 0
    while finished.value == 0 {
        largest = max(largest, try await body())
        try await Task.sleep(for: .milliseconds(10))
    }
    return (try await task.value, largest)
}
