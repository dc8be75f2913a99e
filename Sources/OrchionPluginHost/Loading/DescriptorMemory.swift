import COrchionPlugin
import Glibc

/// Where a descriptor and what it points at are read from: the process
/// itself for a loaded plugin, or a byte buffer for the fuzzer.
package protocol DescriptorMemory {
    /// A value of `type` at `address`, or nil when those bytes are not known
    /// to be readable. Unaligned reads are allowed.
    func load<T: BitwiseCopyable>(_ type: T.Type, at address: UInt) -> T?
    /// The bytes of the NUL-terminated string at `address` (NUL excluded),
    /// or nil when no NUL comes within `limit` bytes or they are unreadable.
    func cString(at address: UInt, limit: Int) -> [UInt8]?
}

/// The process's own memory, for a descriptor returned by a loaded plugin.
/// Addresses are trusted to be readable as far as the plugin declared them;
/// strings are read with `strnlen` and a cap.
struct LiveMemory: DescriptorMemory {
    func load<T: BitwiseCopyable>(_ type: T.Type, at address: UInt) -> T? {
        UnsafeRawPointer(bitPattern: address)?.loadUnaligned(as: T.self)
    }

    func cString(at address: UInt, limit: Int) -> [UInt8]? {
        guard let start = UnsafePointer<CChar>(bitPattern: address) else { return nil }
        let length = strnlen(start, limit + 1)
        guard length <= limit else { return nil }
        return Array(UnsafeRawBufferPointer(start: start, count: length))
    }
}

/// A byte buffer standing for memory: an address is an offset into it.
struct BufferMemory: DescriptorMemory {
    let base: UnsafeRawPointer
    let count: Int

    func load<T: BitwiseCopyable>(_ type: T.Type, at address: UInt) -> T? {
        let size = UInt(MemoryLayout<T>.size)
        guard address <= UInt(count), size <= UInt(count) - address else { return nil }
        return base.loadUnaligned(fromByteOffset: Int(address), as: T.self)
    }

    func cString(at address: UInt, limit: Int) -> [UInt8]? {
        guard address < UInt(count) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: base + Int(address), count: count - Int(address))
        guard let end = bytes.prefix(limit + 1).firstIndex(of: 0) else { return nil }
        return Array(bytes[..<end])
    }
}

/// Reads the fields of one struct whose plugin declared `size` bytes: a
/// field is read only when `size` covers all of it.
struct StructReader<Memory: DescriptorMemory> {
    let memory: Memory
    let address: UInt
    let size: UInt32

    /// The field of `type` at `offset`, or nil when the declared size does not
    /// cover it or it is unreadable.
    func load<T: BitwiseCopyable>(_ type: T.Type, at offset: Int) -> T? {
        let (end, overflow) = offset.addingReportingOverflow(MemoryLayout<T>.size)
        guard offset >= 0, !overflow, end <= Int(size) else { return nil }
        let (field, wrapped) = address.addingReportingOverflow(UInt(offset))
        guard !wrapped else { return nil }
        return memory.load(T.self, at: field)
    }

    /// The string a `const char *` field at `offset` points at: nil for NULL,
    /// an error when it is unterminated within `limit` bytes or not UTF-8.
    func string(at offset: Int, limit: Int, field: String, file: String) throws(PluginError) -> String? {
        guard let pointer = load(UInt.self, at: offset), pointer != 0 else { return nil }
        guard let bytes = memory.cString(at: pointer, limit: limit) else {
            throw .invalidDescriptor(
                file: file, field: field, expected: "a NUL-terminated string of at most \(limit) bytes",
                found: "no NUL within \(limit) bytes")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidDescriptor(file: file, field: field, expected: "UTF-8 text", found: "invalid UTF-8")
        }
        return text
    }
}

/// A descriptor that passed every check, and where its vtable is.
struct CheckedDescriptor {
    let info: PluginInfo
    let vtable: UInt
    let vtableSize: UInt32
}

/// Field offsets of `orchion_plugin_descriptor` (from the header's own layout).
enum DescriptorLayout {
    static let kind = offset(\orchion_plugin_descriptor.kind)
    static let name = offset(\orchion_plugin_descriptor.name)
    static let version = offset(\orchion_plugin_descriptor.version)
    static let description = offset(\orchion_plugin_descriptor.description)
    static let vtable = offset(\orchion_plugin_descriptor.vtable)
}

/// Field offsets of `orchion_scheduler_vtable`.
enum SchedulerLayout {
    static let `init` = offset(\orchion_scheduler_vtable.`init`)
    static let destroy = offset(\orchion_scheduler_vtable.destroy)
    static let place = offset(\orchion_scheduler_vtable.place)
}

/// Field offsets of `orchion_executor_vtable`.
enum ExecutorLayout {
    static let `init` = offset(\orchion_executor_vtable.`init`)
    static let destroy = offset(\orchion_executor_vtable.destroy)
    static let prepare = offset(\orchion_executor_vtable.prepare)
    static let release = offset(\orchion_executor_vtable.release)
    static let classify = offset(\orchion_executor_vtable.classify)
}

/// A stored field's offset; `Int.max` (never readable) if it had none.
private func offset<Root>(_ field: PartialKeyPath<Root>) -> Int {
    MemoryLayout<Root>.offset(of: field) ?? Int.max
}
