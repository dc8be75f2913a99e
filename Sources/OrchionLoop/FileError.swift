import CLibUV

/// A failed file operation: what was done, to which path, and libuv's error.
public struct FileError: Error, Hashable, CustomStringConvertible {
    /// The operation, e.g. "open", "write", "fsync", "rename".
    public let operation: String
    /// The path operated on ("old -> new" for a rename).
    public let path: String
    /// The negative libuv error code (`UV_E*`).
    public let code: Int32

    public init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// libuv's short name for the code, e.g. "ENOENT".
    public var name: String { String(cString: uv_err_name(code)) }

    public var description: String {
        "\(operation) \(path): \(String(cString: uv_strerror(code))) (\(name))"
    }
}
