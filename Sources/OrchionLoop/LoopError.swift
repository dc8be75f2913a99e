import CLibUV

/// A libuv failure: the operation that failed and libuv's error code.
public struct LoopError: Error, Hashable, CustomStringConvertible {
    /// The negative libuv error code (`UV_E*`).
    public let code: Int32
    /// What was being done, e.g. "bind 127.0.0.1:7420".
    public let operation: String

    /// Creates an error from a libuv return code.
    public init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    /// libuv's short name for the code, e.g. "EADDRINUSE".
    public var name: String { String(cString: uv_err_name(code)) }

    public var description: String {
        "\(operation): \(String(cString: uv_strerror(code))) (\(name))"
    }

    /// Throws when `code` is negative (libuv's convention for errors).
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LoopError) {
        if code < 0 { throw LoopError(code, operation()) }
    }
}
