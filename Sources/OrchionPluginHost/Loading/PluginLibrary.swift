import COrchionPlugin
import Glibc

/// A plugin shared object that was opened and whose descriptor passed every
/// check. Holding one runs no plugin code beyond the entry function.
///
/// The host never `dlclose`s a plugin: Swift images cannot be unloaded safely
/// and descriptors must stay valid for as long as anything refers to them.
/// Immutable after creation, so it may cross threads.
public final class PluginLibrary: @unchecked Sendable {
    /// What the descriptor says.
    public let info: PluginInfo
    /// The plugin's constant descriptor.
    let descriptor: UnsafePointer<orchion_plugin_descriptor>

    private init(info: PluginInfo, descriptor: UnsafePointer<orchion_plugin_descriptor>) {
        self.info = info
        self.descriptor = descriptor
    }

    /// Sizes of the ABI 1.0 structs: the smallest a plugin may declare.
    /// Frozen: when a struct grows in a later minor these stay as they are.
    enum MinimumSize {
        static let descriptor = UInt32(MemoryLayout<orchion_plugin_descriptor>.size)
        static let scheduler = UInt32(MemoryLayout<orchion_scheduler_vtable>.size)
        static let executor = UInt32(MemoryLayout<orchion_executor_vtable>.size)
    }

    /// Opens `file` and validates its descriptor. Safe on any thread (it
    /// may be slow for large files: call it from the thread pool).
    public static func open(_ file: String) throws(PluginError) -> PluginLibrary {
        try ELFHeader.check(file)
        _ = dlerror()
        guard let handle = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
            throw .openFailed(file: file, reason: dlerror().map { String(cString: $0) } ?? "unknown error")
        }
        guard let symbol = dlsym(handle, ORCHION_PLUGIN_ENTRY_SYMBOL) else {
            throw .missingEntry(file: file, symbol: ORCHION_PLUGIN_ENTRY_SYMBOL)
        }
        let entry = unsafeBitCast(symbol, to: orchion_plugin_entry_fn.self)
        guard let descriptor = entry() else { throw .nullDescriptor(file: file) }
        let info = try validate(descriptor, file: file)
        return PluginLibrary(info: info, descriptor: descriptor)
    }

    /// Checks a descriptor field by field, never reading past its declared size.
    static func validate(
        _ pointer: UnsafePointer<orchion_plugin_descriptor>, file: String
    ) throws(PluginError) -> PluginInfo {
        // struct_size, abi_major and abi_minor are the first 8 bytes in every ABI.
        let raw = UnsafeRawPointer(pointer)
        let size = raw.load(as: UInt32.self)
        let major = raw.load(fromByteOffset: 4, as: UInt16.self)
        let minor = raw.load(fromByteOffset: 6, as: UInt16.self)
        guard major == HostABI.major else { throw .abiMajorMismatch(file: file, found: major, expected: HostABI.major) }
        guard minor <= HostABI.minor else { throw .abiMinorTooNew(file: file, found: minor, expected: HostABI.minor) }
        guard size >= MinimumSize.descriptor else {
            throw .structTooSmall(
                file: file, structName: "orchion_plugin_descriptor", found: size, expected: MinimumSize.descriptor)
        }
        let descriptor = pointer.pointee
        guard let kind = PluginKind(raw: descriptor.kind) else {
            throw .unknownKind(file: file, found: descriptor.kind)
        }
        let name = descriptor.name.map { String(cString: $0) }
        guard let name, isValidName(name) else {
            throw .invalidDescriptor(
                file: file, field: "name", expected: "1–63 characters of [a-z0-9-]",
                found: name.map { "'\($0)'" } ?? "NULL")
        }
        guard let version = descriptor.version.map({ String(cString: $0) }), !version.isEmpty else {
            throw .invalidDescriptor(file: file, field: "version", expected: "a version string", found: "NULL or empty")
        }
        guard let vtable = descriptor.vtable else {
            throw .invalidDescriptor(file: file, field: "vtable", expected: "a \(kind.rawValue) vtable", found: "NULL")
        }
        try validate(vtable: vtable, kind: kind, file: file)
        return PluginInfo(
            name: name, kind: kind, version: version,
            description: descriptor.description.map { String(cString: $0) } ?? "",
            abiMajor: major, abiMinor: minor, file: file)
    }

    private static func validate(vtable: UnsafeRawPointer, kind: PluginKind, file: String) throws(PluginError) {
        let size = vtable.load(as: UInt32.self)
        let (name, minimum, functions): (String, UInt32, [(String, Bool)])
        switch kind {
        case .scheduler:
            let table = vtable.load(as: orchion_scheduler_vtable.self)
            (name, minimum) = ("orchion_scheduler_vtable", MinimumSize.scheduler)
            functions = [
                ("init", table.`init` != nil), ("destroy", table.destroy != nil), ("place", table.place != nil),
            ]
        case .executor:
            let table = vtable.load(as: orchion_executor_vtable.self)
            (name, minimum) = ("orchion_executor_vtable", MinimumSize.executor)
            functions = [
                ("init", table.`init` != nil), ("destroy", table.destroy != nil), ("prepare", table.prepare != nil),
                ("release", table.release != nil), ("classify", table.classify != nil),
            ]
        }
        guard size >= minimum else {
            throw .structTooSmall(file: file, structName: name, found: size, expected: minimum)
        }
        if let missing = functions.first(where: { !$0.1 }) {
            throw .invalidDescriptor(file: file, field: "\(name).\(missing.0)", expected: "a function", found: "NULL")
        }
    }

    private static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes[0] != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
    }

    /// The scheduler vtable; only valid when `info.kind == .scheduler`.
    var schedulerVTable: UnsafePointer<orchion_scheduler_vtable> {
        descriptor.pointee.vtable.assumingMemoryBound(to: orchion_scheduler_vtable.self)
    }

    /// The executor vtable; only valid when `info.kind == .executor`.
    var executorVTable: UnsafePointer<orchion_executor_vtable> {
        descriptor.pointee.vtable.assumingMemoryBound(to: orchion_executor_vtable.self)
    }
}
