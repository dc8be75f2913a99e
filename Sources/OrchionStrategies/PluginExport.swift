import COrchionPlugin

/// Copies `message` into a C buffer of `size` bytes, truncating and terminating it.
public func copy(_ message: String, into buffer: UnsafeMutablePointer<CChar>?, size: Int) {
    guard let buffer, size > 0 else { return }
    let bytes = Array(message.utf8.prefix(size - 1))
    for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
    buffer[bytes.count] = 0
}

/// A descriptor that is written once and never changes, so any thread may read it.
public struct ConstantDescriptor: @unchecked Sendable {
    /// What `orchion_plugin_entry` returns.
    public let pointer: UnsafePointer<orchion_plugin_descriptor>

    /// Wraps a descriptor that will never be written again.
    public init(pointer: UnsafePointer<orchion_plugin_descriptor>) {
        self.pointer = pointer
    }
}
