/// The fuzz targets, each a harness function over one input of arbitrary
/// bytes. libFuzzer's entry executables and the regression tests call the
/// same function, so a committed input replays exactly as it was found.
///
/// Threading: `run` is called from one thread at a time (libFuzzer's, or a
/// test's); the server targets keep their own loop thread.
public enum FuzzTarget: String, CaseIterable, Codable, Sendable {
    /// HTTP/1.1 bytes through the real server: parsing, routing, authentication, the REST gateway.
    case http1
    /// HTTP/2 frames after the preface through the real server: nghttp2, HPACK, the gRPC layer.
    case http2
    /// gRPC's length-prefixed message reader, `grpc-timeout` parsing and `grpc-message` encoding.
    case grpcFraming = "grpc-framing"
    /// Protobuf JSON decoding of every REST request type, as the gateway decodes bodies.
    case restJSON = "rest-json"
    /// Arbitrary bytes as a plugin descriptor, its vtable and its strings.
    case pluginDescriptor = "plugin-descriptor"
    /// Arbitrary bytes as a YAML job spec file (`orchion job submit FILE`).
    case jobSpec = "job-spec"
    /// Arbitrary bytes as the server's client tokens file (hashed lines, older plaintext ones).
    case tokenFile = "token-file"

    /// Runs one input. A bug shows as a crash (trap, signal, sanitizer report).
    public func run(_ input: UnsafeRawBufferPointer) {
        switch self {
        case .http1: HTTP1Harness.run(input)
        case .http2: HTTP2Harness.run(input)
        case .grpcFraming: GRPCFramingHarness.run(input)
        case .restJSON: RESTJSONHarness.run(input)
        case .pluginDescriptor: PluginDescriptorHarness.run(input)
        case .jobSpec: JobSpecHarness.run(input)
        case .tokenFile: TokenFileHarness.run(input)
        }
    }

    /// Runs one input held in an array.
    public func run(_ input: [UInt8]) {
        input.withUnsafeBytes { run($0) }
    }
}
