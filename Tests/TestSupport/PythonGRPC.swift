import Foundation

/// Python's grpcio, the third-party gRPC client the tests drive: the
/// project's virtual environment and stubs generated from sdk/proto.
public enum PythonGRPC {
    /// The virtual environment's interpreter (`.ci/setup` makes it).
    public static let python = Paths.root.appendingPathComponent(".venv/bin/python").path

    /// The directory of the Python stubs, generated from the .proto files
    /// once per test process.
    public static let stubs: Result<String, any Error> = Result {
        let dir = try Paths.temporaryDirectory("orchion-stubs")
        let generated = try runCommand(
            [
                python, "-m", "grpc_tools.protoc", "-I", Paths.root.appendingPathComponent("sdk/proto").path,
                "--python_out=\(dir.path)", "--grpc_python_out=\(dir.path)",
            ]
                + ["agent", "cluster", "control", "jobs", "plugins"].map {
                    Paths.root.appendingPathComponent("sdk/proto/orchion/v1/\($0).proto").path
                })
        guard generated.status == 0 else { throw CPlugins.BuildFailed(output: generated.stderr) }
        return dir.path
    }
}
