import Foundation
import OrchionLoop
import OrchionProto
import OrchionWire
import TestSupport

/// A real `orchion server` on 127.0.0.1 (a free port), with its own state
/// directory and token files, stopped by PID when the test ends.
public final class ServerProcess: @unchecked Sendable {
    public static let joinToken = "join-token-for-tests-0123456789"
    public static let clientToken = "client-token-for-tests-012345678"

    public let directory: URL
    public let pluginDirectory: URL
    public private(set) var process: Process
    public private(set) var port: UInt16 = 0
    private let log = LogBuffer()
    private let extraArguments: [String]

    /// Starts a server in `directory` (a new one when nil), with the built-in
    /// strategies in its plugin directory unless `builtins` is false.
    public init(directory: URL? = nil, builtins: Bool = true, arguments: [String] = []) throws {
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

    deinit { remove() }

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
        // Fast health for tests: beats every 200 ms, suspect after 1 s of
        // silence (room for a loaded machine), down after 3 s.
        environment["ORCHION_HEARTBEAT_MIN_INTERVAL"] = "200ms"
        environment["ORCHION_HEARTBEAT_SUSPECT_AFTER_MISSED"] = "5"
        environment["ORCHION_HEARTBEAT_DOWN_AFTER_MISSED"] = "15"
        environment["ORCHION_HEARTBEAT_MIN_DOWN_AFTER"] = "3s"
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

    public var address: SocketAddress { SocketAddress(host: "127.0.0.1", port: port) }

    /// The server's log so far.
    public var output: String { log.text }

    /// Waits for a log line containing `text`; returns the line.
    @discardableResult
    public func waitForLog(_ text: String, timeout: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = log.text.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard process.isRunning else { throw HarnessError("server exited: \(log.text)") }
            usleep(20_000)
        }
        throw HarnessError("no '\(text)' in the server log within \(timeout)s:\n\(log.text)")
    }

    /// Kills the server with SIGKILL and starts it again on the same port and state.
    public func crashAndRestart() throws {
        crash()
        try restart()
    }

    /// Kills the server with SIGKILL.
    public func crash() {
        kill(process.processIdentifier, SIGKILL)
        // Polled, bounded: `waitUntilExit` can hang in an async test.
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
    }

    /// Starts the server again on the same port and state.
    public func restart() throws {
        log.clear()
        try launch()
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// SIGTERM, then SIGKILL after 10 s; waits for the exit.
    public func stop() {
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
    public func remove() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Output collected from a child's pipe on another thread.
public final class LogBuffer: @unchecked Sendable {
    public init() {}

    private let lock = NSLock()
    private var data = Data()

    public func append(_ more: Data) { lock.withLock { data.append(more) } }
    public func clear() { lock.withLock { data.removeAll() } }
    public var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
public func eventually(
    _ what: String, timeout: Double = 10, _ condition: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
    throw HarnessError("timed out after \(timeout)s waiting for \(what)")
}
