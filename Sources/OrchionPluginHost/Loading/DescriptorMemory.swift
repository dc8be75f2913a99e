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
    /// Whether a function pointer may point at `address`: loaded code.
    func isCode(_ address: UInt) -> Bool
}

/// The process's own memory, for a descriptor returned by a loaded plugin.
///
/// A plugin's pointers are not trusted to be readable: each read is first
/// copied through a pipe, which the kernel refuses with `EFAULT` for an
/// unmapped or unreadable address instead of faulting the host. So a
/// descriptor whose declared size runs past its mapping, or a name pointer
/// that is garbage, becomes a refusal. Strings are read page by page up to a
/// cap. Every read is a few system calls; a descriptor is read once per load.
///
/// Threading: one thread at a time; each validation makes its own.
final class LiveMemory: DescriptorMemory {
    private var pipe: (read: Int32, write: Int32)?
    private let codeCheck: (UInt) -> Bool
    private static let pageSize = UInt(max(4096, sysconf(Int32(_SC_PAGESIZE))))

    /// `isCode` says whether a vtable function pointer is loaded code (by
    /// default anything is, for a descriptor not from a loaded image).
    init(isCode: @escaping (UInt) -> Bool = { _ in true }) {
        codeCheck = isCode
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { return }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        pipe = (ends[0], ends[1])
    }

    deinit {
        if let pipe {
            close(pipe.read)
            close(pipe.write)
        }
    }

    func load<T: BitwiseCopyable>(_ type: T.Type, at address: UInt) -> T? {
        guard let bytes = copy(from: address, count: MemoryLayout<T>.size) else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    func cString(at address: UInt, limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var next = address
        while bytes.count <= limit {
            // Up to the end of the page: one page is either readable or not.
            let chunk = min(Int(Self.pageSize - next % Self.pageSize), limit + 1 - bytes.count)
            guard let read = copy(from: next, count: chunk) else { return nil }
            if let end = read.firstIndex(of: 0) { return bytes + read[..<end] }
            bytes += read
            let (advanced, overflow) = next.addingReportingOverflow(UInt(chunk))
            guard !overflow else { return nil }
            next = advanced
        }
        return nil
    }

    func isCode(_ address: UInt) -> Bool { codeCheck(address) }

    /// `count` bytes (at most a page) at `address`, or nil when any is unreadable.
    private func copy(from address: UInt, count: Int) -> [UInt8]? {
        guard let pipe, count > 0, count <= Int(Self.pageSize), let source = UnsafeRawPointer(bitPattern: address)
        else { return count == 0 ? [] : nil }
        let written = write(pipe.write, source, count)
        guard written == count else {
            // A read that faulted part-way leaves nothing behind for the next one.
            var drain = [UInt8](repeating: 0, count: count)
            if written > 0 { _ = drain.withUnsafeMutableBytes { Glibc.read(pipe.read, $0.baseAddress, written) } }
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { Glibc.read(pipe.read, $0.baseAddress, count) }
        return read == count ? bytes : nil
    }
}

/// A byte buffer standing for memory: an address is an offset into it.
struct BufferMemory: DescriptorMemory {
    let base: UnsafeRawPointer
    let count: Int

    /// Offsets are not code; a buffer's function pointers only need to be non-NULL.
    func isCode(_ address: UInt) -> Bool { true }

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
