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
    fileprivate let server: LoopBound<WireServer>

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
final class HTTP1EventCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// The largest value seen, kept on one loop thread.
private final class Largest: @unchecked Sendable {
    var value = 0
}

extension HandlerServer {
    /// Runs `work` on a thread of its own (not the shared task pool, which
    /// other tests' blocking calls may occupy) while a timer on the server's
    /// own loop samples its unsent output every 5 ms; returns work's result
    /// and the largest sample.
    func largestUnsentOutput<T: Sendable>(while work: @escaping @Sendable () throws -> T) async throws -> (T, Int) {
        let loop = thread.loop
        let server = self.server
        let largest = Largest()
        let sampler = try await loop.submit {
            let timer = try Timer(loop: loop)
            timer.start(after: 0, repeat: 5) { largest.value = max(largest.value, server.wrapped.unsentOutputBytes) }
            return LoopBound(timer, loop: loop)
        }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
            Thread.detachNewThread { continuation.resume(returning: Result { try work() }) }
        }
        let value = try await loop.submit {
            sampler.wrapped.close()
            return largest.value
        }
        return (try result.get(), value)
    }
}
