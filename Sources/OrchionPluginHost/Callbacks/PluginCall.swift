import COrchionPlugin

/// Helpers shared by the typed plugin adapters.
enum PluginCall {
    /// A message buffer a plugin writes its error into.
    struct ErrorBuffer {
        static let size = 512
        private var bytes = [CChar](repeating: 0, count: size)

        /// Calls `body` with the buffer and its size.
        mutating func withBuffer<T>(_ body: (UnsafeMutablePointer<CChar>, Int) -> T) -> T {
            bytes.withUnsafeMutableBufferPointer { body($0.baseAddress!, Self.size) }
        }

        /// What the plugin wrote, even if it forgot the terminating NUL.
        var message: String {
            let text = String(decoding: bytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return text.isEmpty ? "(no message)" : text
        }
    }

}
