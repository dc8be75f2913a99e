import COrchionPlugin

/// A message buffer a plugin writes its error (or reason) into, read back
/// safely even when the plugin forgot the terminating NUL.
struct PluginErrorBuffer {
    /// ORCHION_ERROR_MAX, as the header promises.
    static let size = Int(ORCHION_ERROR_MAX)
    private var bytes = [CChar](repeating: 0, count: size)

    /// Calls `body` with the buffer and its size.
    mutating func withBuffer<T>(_ body: (UnsafeMutablePointer<CChar>, Int) -> T) -> T {
        bytes.withUnsafeMutableBufferPointer { body($0.baseAddress!, Self.size) }
    }

    /// What the plugin wrote, up to the first NUL or the buffer's end.
    var message: String {
        let text = String(decoding: bytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? "(no message)" : text
    }
}
