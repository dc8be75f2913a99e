import Foundation
import OrchionAgent
import TestSupport

/// The fixture trees of `Tests/OrchionAgentTests/Fixtures` and the stub NVML.
enum AgentFixtures {
    /// A fixture tree's root: "pi5-hailo", "desktop-nvidia", "amd-radeon", "x86-server".
    static func root(_ name: String) -> HostRoot {
        HostRoot(Paths.root.appendingPathComponent("Tests/OrchionAgentTests/Fixtures/\(name)").path)
    }

    /// Builds `Fixtures/stub_nvml.c` with `defines` into `directory/libnvidia-ml.so.1`.
    static func stubNVML(in directory: URL, defines: [String] = []) throws -> String {
        let output = directory.appendingPathComponent("libnvidia-ml.so.1").path
        let source = Paths.root.appendingPathComponent("Tests/OrchionAgentTests/Fixtures/stub_nvml.c").path
        let result = try runCommand(
            ["cc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-shared", "-fPIC"] + defines.map { "-D" + $0 }
                + ["-o", output, source], timeout: 60)
        guard result.status == 0 else { throw CPlugins.BuildFailed(output: result.stderr) }
        return output
    }

    /// A fresh temporary directory, removed after `body`.
    static func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = try Paths.temporaryDirectory("orchion-agent")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    /// Writes `files` (host path → contents) under `root`, making directories.
    static func write(_ files: [String: String], under root: URL) throws {
        for (path, contents) in files {
            let url = root.appendingPathComponent(String(path.drop(while: { $0 == "/" })))
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url)
        }
    }
}
