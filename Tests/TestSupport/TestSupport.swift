import Foundation

/// Paths of the package under test.
public enum Paths {
    /// The package root (found from this file's location).
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where `swift build` put the products (`ORCHION_BUILD_DIR` overrides).
    public static var build: URL {
        if let dir = ProcessInfo.processInfo.environment["ORCHION_BUILD_DIR"] { return URL(fileURLWithPath: dir) }
        return root.appendingPathComponent(".build/debug").resolvingSymlinksInPath()
    }

    /// The `orchion` binary.
    public static var orchion: String { build.appendingPathComponent("orchion").path }

    /// A built-in plugin's shared object, e.g. `builtin("bin-packing")`.
    public static func builtin(_ name: String) -> String {
        build.appendingPathComponent("liborchion-\(name).so").path
    }

    /// A fresh empty directory, removed by the caller with `FileManager`.
    public static func temporaryDirectory(_ label: String = "orchion-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// What a finished command printed and returned.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

public struct CommandTimedOut: Error, CustomStringConvertible {
    public let command: [String]
    public var description: String { "timed out: \(command.joined(separator: " "))" }
}

/// Runs a real program and waits for it at most `timeout` seconds; on
/// timeout its process is killed (by PID) and an error thrown.
public func runCommand(
    _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 120
) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/bin/env")
    process.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    // Drain both pipes concurrently so a chatty child never blocks.
    let outData = Drain(out.fileHandleForReading)
    let errData = Drain(err.fileHandleForReading)
    if done.wait(timeout: .now() + timeout) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        _ = done.wait(timeout: .now() + 5)
        throw CommandTimedOut(command: arguments)
    }
    return CommandResult(
        status: process.terminationStatus,
        stdout: String(decoding: outData.wait(), as: UTF8.self),
        stderr: String(decoding: errData.wait(), as: UTF8.self))
}

/// Reads a pipe to EOF on a background thread.
private final class Drain: @unchecked Sendable {
    private var data = Data()
    private let finished = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            finished.signal()
        }
    }

    func wait() -> Data {
        _ = finished.wait(timeout: .now() + 10)
        return data
    }
}

/// Builds real plugin shared objects from C sources with `cc`.
public enum CPlugins {
    /// Compiles `Tests/Fixtures/<source>` (the well-behaved fixture unless
    /// told otherwise) with `defines` into `directory/file`.
    @discardableResult
    public static func fixture(
        _ file: String, in directory: URL, defines: [String] = [], source: String = "fixture_plugin.c"
    ) throws -> String {
        let output = directory.appendingPathComponent(file).path
        let source = Paths.root.appendingPathComponent("Tests/Fixtures/\(source)").path
        let include = Paths.root.appendingPathComponent("sdk/c/include").path
        let result = try runCommand(
            ["cc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-shared", "-fPIC", "-I", include]
                + defines.map { "-D" + $0 } + ["-o", output, source], timeout: 60)
        guard result.status == 0 else { throw BuildFailed(output: result.stderr) }
        return output
    }

    /// Compiles `Tests/Fixtures/hostile_plugin.c`, a plugin that misbehaves
    /// in the way `defines` choose.
    @discardableResult
    public static func hostile(_ file: String, in directory: URL, defines: [String] = []) throws -> String {
        try fixture(file, in: directory, defines: defines, source: "hostile_plugin.c")
    }

    public struct BuildFailed: Error, CustomStringConvertible {
        public let output: String

        public init(output: String) { self.output = output }

        public var description: String { "cc failed: \(output)" }
    }
}
