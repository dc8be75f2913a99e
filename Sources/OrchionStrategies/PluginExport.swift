import COrchionPlugin
import Glibc

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

extension ConstantDescriptor {
    /// Builds a descriptor for the current ABI around `vtable`. The memory
    /// lives as long as the image; call once per plugin.
    public static func make(
        kind: orchion_plugin_kind, name: String, version: String, description: String, vtable: UnsafeRawPointer
    ) -> ConstantDescriptor {
        let descriptor = UnsafeMutablePointer<orchion_plugin_descriptor>.allocate(capacity: 1)
        descriptor.initialize(
            to: orchion_plugin_descriptor(
                struct_size: UInt32(MemoryLayout<orchion_plugin_descriptor>.size),
                abi_major: UInt16(ORCHION_PLUGIN_ABI_MAJOR), abi_minor: UInt16(ORCHION_PLUGIN_ABI_MINOR),
                kind: Int32(kind.rawValue), reserved: 0,
                name: strdup(name), version: strdup(version), description: strdup(description),
                vtable: vtable))
        return ConstantDescriptor(pointer: UnsafePointer(descriptor))
    }
}
