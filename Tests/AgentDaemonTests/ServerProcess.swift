// Copied from Tests/ControlPlaneTests (kept apart so the agent tests do not depend on that target).
import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport

/// A real `orchion server` on 127.0.0.1 (a free port), with its own state
/// directory and token files, stopped by PID when the test ends.
final class ServerProcess: @unchecked Sendable {
    static let joinToken = "join-token-for-tests-0123456789"
    static let clientToken = "client-token-for-tests-012345678"

    let directory: URL
    let pluginDirectory: URL
    private(set) var process: Process
    private(set) var port: UInt16 = 0
    private let log = LogBuffer()
    private let extraArguments: [String]

    /// Starts a server in `directory` (a new one when nil), with the built-in
    /// strategies in its plugin directory unless `builtins` is false.
    init(directory: URL? = nil, builtins: Bool = true, arguments: [String] = []) throws {
        self.directory = try directory ?? Paths.temporaryDirectory("orchion-server")
        pluginDirectory = self.directory.appendingPathComponent("plugins")
        extraArguments = arguments
        let files = FileManager.default
        try files.createDirectory(at: pluginDirectory, withIntermediateDirectories: true)
        if builtins {
            for name in ["bin-packing", "spread", "round-robin", "gpu-affinity"] {
                let target = pluginDirectory.appendingPathComponent("liborchion-\(name).so")
                if !files.fileExists(atPath: target.path) {
                    try files.copyItem(atPath: Paths.builtin(name), toPath: target.path)
                }
            }
        }
        try Self.writeSecret(Self.joinToken, to: self.directory.appendingPathComponent("join.token"))
        try Self.writeSecret("tests \(Self.clientToken)", to: self.directory.appendingPathComponent("client.tokens"))
        process = Process()
        try launch()
    }

    deinit { stop() }

    private static func writeSecret(_ text: String, to url: URL) throws {
        guard !FileManager.default.fileExists(atPath: url.path) else { return }
        try Data((text + "\n").utf8).write(to: url)
        chmod(url.path, 0o600)
    }

    private func launch() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.orchion)
        process.arguments =
            [
                "server", "--listen", "127.0.0.1:\(port)", "--state-dir", directory.path,
                "--plugins-dir", pluginDirectory.path,
            ] + extraArguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORCHION_") }
        // Fast health for tests: beats every 200 ms, down after 2 s of silence.
        environment["ORCHION_HEARTBEAT_MIN_INTERVAL"] = "200ms"
        environment["ORCHION_HEARTBEAT_MIN_DOWN_AFTER"] = "2s"
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = err
        process.standardInput = FileHandle.nullDevice
        let log = self.log
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
        self.process = process
        let line = try waitForLog("listening on 127.0.0.1:", timeout: 30)
        guard let portText = line.split(separator: ":").last, let port = UInt16(portText) else {
            throw HarnessError("no port in '\(line)'")
        }
        self.port = port
    }

    var address: SocketAddress { SocketAddress(host: "127.0.0.1", port: port) }

    /// The server's log so far.
    var output: String { log.text }

    /// Waits for a log line containing `text`; returns the line.
    @discardableResult
    func waitForLog(_ text: String, timeout: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = log.text.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard process.isRunning else { throw HarnessError("server exited: \(log.text)") }
            usleep(20_000)
        }
        throw HarnessError("no '\(text)' in the server log within \(timeout)s:\n\(log.text)")
    }

    /// Kills the server with SIGKILL and starts it again on the same port and state.
    func crashAndRestart() throws {
        crash()
        try restart()
    }

    /// Kills the server with SIGKILL.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        // Polled, bounded: `waitUntilExit` can hang in an async test.
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
    }

    /// Starts the server again on the same port and state.
    func restart() throws {
        log.clear()
        try launch()
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// SIGTERM, then SIGKILL after 10 s; waits for the exit.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Stops the server and removes its directory.
    func remove() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Output collected from a child's pipe on another thread.
final class LogBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ more: Data) { lock.withLock { data.append(more) } }
    func clear() { lock.withLock { data.removeAll() } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(
    _ what: String, timeout: Double = 10, _ condition: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
    throw HarnessError("timed out after \(timeout)s waiting for \(what)")
}
