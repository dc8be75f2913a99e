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
    /// The vtable the descriptor points at, checked for its kind.
    let vtable: UnsafeRawPointer
    /// The vtable's `struct_size` as the plugin declared it (at least the
    /// ABI 1.0 size): a field past it must not be read.
    package let vtableSize: UInt32
    /// The `dlopen` handle of the mapped image, for looking up the plugin's
    /// own symbols (tests do; the host needs only the descriptor).
    package let image: UnsafeMutableRawPointer

    private init(
        info: PluginInfo, descriptor: UnsafePointer<orchion_plugin_descriptor>, checked: CheckedDescriptor,
        image: UnsafeMutableRawPointer
    ) {
        self.info = info
        self.image = image
        self.descriptor = descriptor
        self.vtable = UnsafeRawPointer(bitPattern: checked.vtable) ?? UnsafeRawPointer(descriptor)
        self.vtableSize = checked.vtableSize
    }

    /// Sizes of the ABI 1.0 structs: the smallest a plugin may declare.
    /// Frozen: when a struct grows in a later minor these stay as they are.
    /// Each is the end of the struct's last 1.0 field, so fields appended
    /// later never move it.
    enum MinimumSize {
        static let descriptor = end(of: DescriptorLayout.vtable)
        static let scheduler = end(of: SchedulerLayout.place)
        static let executor = end(of: ExecutorLayout.classify)

        private static func end(of pointerField: Int) -> UInt32 {
            let (end, overflow) = pointerField.addingReportingOverflow(MemoryLayout<UInt>.size)
            return overflow ? UInt32.max : UInt32(clamping: end)
        }
    }

    /// Opens `file` and validates its descriptor. Safe on any thread (it
    /// may be slow for large files: call it from the thread pool).
    ///
    /// Before any plugin code runs, the path must be a regular file (never
    /// opened if it is a FIFO, device, directory or socket) that only its
    /// owner and root can change, its ELF headers must agree with its size,
    /// its dynamic table must point inside its own image (`ELFDynamic`), and
    /// its run path and the libraries found there must pass the same rules
    /// (`LibrarySearch`). It is then loaded from a sealed in-memory copy, so the file can
    /// be rewritten or truncated meanwhile without faulting the host.
    /// `dlopen` runs the library's constructors: that is plugin code, and
    /// nothing here can contain what it does (see `orchion plugin list`,
    /// which probes each file in a child process).
    public static func open(_ file: String) throws(PluginError) -> PluginLibrary {
        let (contents, elf) = try checkedFile(file)
        let snapshot = try contents.snapshot()
        let mappedPath = "/proc/self/fd/\(snapshot)"
        _ = dlerror()
        guard let handle = dlopen(mappedPath, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            close(snapshot)
            throw .openFailed(file: file, reason: reason.replacing(mappedPath, with: file))
        }
        // The image stays mapped for the life of the process and so does
        // its descriptor (`PluginFile.snapshot` says why).
        guard let symbol = dlsym(handle, ORCHION_PLUGIN_ENTRY_SYMBOL) else {
            throw .missingEntry(file: file, symbol: ORCHION_PLUGIN_ENTRY_SYMBOL)
        }
        try checkEntry(UnsafeRawPointer(symbol), handle: handle, elf: elf, file: file)
        let entry = unsafeBitCast(symbol, to: orchion_plugin_entry_fn.self)
        guard let descriptor = entry() else { throw .nullDescriptor(file: file) }
        let memory = LiveMemory { address in isCode(address, handle: handle, elf: elf) }
        let checked = try validate(descriptorAt: UInt(bitPattern: descriptor), memory: memory, file: file)
        return PluginLibrary(info: checked.info, descriptor: descriptor, checked: checked, image: handle)
    }

    /// A plugin linked into this executable (the agent's built-in `exec`):
    /// its entry function is called and its descriptor checked exactly as
    /// `open` does for a file, and the host reaches it through the same
    /// descriptor and vtable. `file` names it in messages and `PluginInfo`
    /// (e.g. "exec (linked in)"). Safe on any thread.
    public static func linked(entry: orchion_plugin_entry_fn, file: String) throws(PluginError) -> PluginLibrary {
        // The main program's handle: a linked plugin's symbols are its own.
        guard let handle = dlopen(nil, RTLD_NOW) else {
            throw .openFailed(file: file, reason: dlerror().map { String(cString: $0) } ?? "unknown error")
        }
        guard let descriptor = entry() else { throw .nullDescriptor(file: file) }
        let memory = LiveMemory { address in
            UnsafeRawPointer(bitPattern: address).map(DynamicLinker.isInLoadedObject) ?? false
        }
        let checked = try validate(descriptorAt: UInt(bitPattern: descriptor), memory: memory, file: file)
        return PluginLibrary(info: checked.info, descriptor: descriptor, checked: checked, image: handle)
    }

    /// Every check of `file` that runs no plugin code: its type, permissions
    /// and size, its ELF headers, its dynamic table and where its libraries
    /// come from. Returns its bytes and headers.
    static func checkedFile(_ file: String) throws(PluginError) -> (PluginFile, ELFHeader) {
        let contents = try PluginFile.read(file)
        let elf: ELFHeader
        do { elf = try ELFHeader.check(contents.bytes, file: file) } catch {
            throw PluginProbe.redacted(error, file: file)
        }
        try LibrarySearch.check(try ELFDynamic.check(contents.bytes, header: elf, file: file), file: file)
        return (contents, elf)
    }

    /// Refuses an entry symbol that is not a function in executable code
    /// (e.g. a data object exported under the entry's name): calling it
    /// would jump into data.
    private static func checkEntry(
        _ symbol: UnsafeRawPointer, handle: UnsafeMutableRawPointer, elf: ELFHeader, file: String
    ) throws(PluginError) {
        let name = ORCHION_PLUGIN_ENTRY_SYMBOL
        if let type = DynamicLinker.symbolType(at: symbol), type != 2, type != 10 {  // STT_FUNC, STT_GNU_IFUNC
            let types: [UInt8: String] = [0: "an untyped symbol", 1: "a data object", 6: "a thread-local object"]
            throw .entryNotFunction(file: file, symbol: name, found: types[type] ?? "symbol type \(type)")
        }
        if let bias = DynamicLinker.loadBias(handle) {
            let address = UInt(bitPattern: symbol)
            guard address >= bias, elf.isExecutable(UInt64(address - bias)) else {
                throw .entryNotFunction(file: file, symbol: name, found: "an address outside executable code")
            }
        }
    }

    /// Whether `address` is code a vtable may point at: in an executable
    /// segment of the plugin's own image, or inside another loaded object
    /// (a plugin may use, say, libc's `free` as its `destroy`). A garbage
    /// address is neither, and calling it would crash the host.
    private static func isCode(_ address: UInt, handle: UnsafeMutableRawPointer, elf: ELFHeader) -> Bool {
        if let bias = DynamicLinker.loadBias(handle), address >= bias, elf.isExecutable(UInt64(address - bias)) {
            return true
        }
        return UnsafeRawPointer(bitPattern: address).map(DynamicLinker.isInLoadedObject) ?? false
    }

    /// Checks a descriptor in fuzzable form: `readable` bytes at `start` hold
    /// the descriptor at offset 0, and every pointer field in it (name,
    /// version, description, vtable) is read as an offset into those same
    /// bytes (0 is NULL). Never reads outside them.
    package static func validateDescriptor(
        _ start: UnsafeRawPointer, readable: Int, file: String = "<bytes>"
    ) throws(PluginError) -> PluginInfo {
        let memory = BufferMemory(base: start, count: max(0, readable))
        return try validate(descriptorAt: 0, memory: memory, file: file).info
    }

    /// Checks a descriptor in this process's memory, as `open` does after
    /// calling the entry: fields past its declared size are never read.
    package static func validate(liveDescriptor start: UnsafeRawPointer, file: String) throws(PluginError)
        -> PluginInfo
    {
        try validate(descriptorAt: UInt(bitPattern: start), memory: LiveMemory(), file: file).info
    }

    /// The longest strings a descriptor may hold, in bytes (NUL excluded).
    enum StringLimit {
        static let name = 63
        static let version = 128
        static let description = 4096
    }

    /// Checks a descriptor field by field: every field is read only once the
    /// declared `struct_size` is known to cover it, and strings are read
    /// with a length cap.
    static func validate<Memory: DescriptorMemory>(
        descriptorAt address: UInt, memory: Memory, file: String
    ) throws(PluginError) -> CheckedDescriptor {
        let structName = "orchion_plugin_descriptor"
        guard let size = memory.load(UInt32.self, at: address) else {
            throw .invalidDescriptor(file: file, field: "struct_size", expected: "4 readable bytes", found: "none")
        }
        guard size >= 8 else {
            throw .structTooSmall(file: file, structName: structName, found: size, expected: MinimumSize.descriptor)
        }
        let fields = StructReader(memory: memory, address: address, size: size)
        let major = fields.load(UInt16.self, at: 4) ?? 0
        let minor = fields.load(UInt16.self, at: 6) ?? 0
        guard major == HostABI.major else { throw .abiMajorMismatch(file: file, found: major, expected: HostABI.major) }
        guard minor <= HostABI.minor else { throw .abiMinorTooNew(file: file, found: minor, expected: HostABI.minor) }
        guard size >= MinimumSize.descriptor else {
            throw .structTooSmall(file: file, structName: structName, found: size, expected: MinimumSize.descriptor)
        }
        let layout = DescriptorLayout.self
        guard let rawKind = fields.load(Int32.self, at: layout.kind) else {
            throw .invalidDescriptor(
                file: file, field: "kind", expected: "a readable field", found: "an unreadable address")
        }
        guard let kind = PluginKind(raw: rawKind) else { throw .unknownKind(file: file, found: rawKind) }
        let name = try fields.string(at: layout.name, limit: StringLimit.name, field: "name", file: file)
        guard let name, isValidName(name) else {
            throw .invalidDescriptor(
                file: file, field: "name", expected: "1–63 characters of [a-z0-9-]",
                found: name.map { "'\($0)'" } ?? "NULL")
        }
        let version = try fields.string(at: layout.version, limit: StringLimit.version, field: "version", file: file)
        guard let version, !version.isEmpty else {
            throw .invalidDescriptor(file: file, field: "version", expected: "a version string", found: "NULL or empty")
        }
        let description = try fields.string(
            at: layout.description, limit: StringLimit.description, field: "description", file: file)
        guard let vtable = fields.load(UInt.self, at: layout.vtable), vtable != 0 else {
            throw .invalidDescriptor(file: file, field: "vtable", expected: "a \(kind.rawValue) vtable", found: "NULL")
        }
        let vtableSize = try validate(vtable: vtable, kind: kind, memory: memory, file: file)
        let info = PluginInfo(
            name: name, kind: kind, version: version, description: description ?? "",
            abiMajor: major, abiMinor: minor, file: file)
        return CheckedDescriptor(info: info, vtable: vtable, vtableSize: vtableSize)
    }

    /// Checks a vtable's declared size, then each required function pointer
    /// on its own. Returns the declared size.
    private static func validate<Memory: DescriptorMemory>(
        vtable address: UInt, kind: PluginKind, memory: Memory, file: String
    ) throws(PluginError) -> UInt32 {
        let (name, minimum, functions): (String, UInt32, [(String, Int)])
        switch kind {
        case .scheduler:
            (name, minimum) = ("orchion_scheduler_vtable", MinimumSize.scheduler)
            let layout = SchedulerLayout.self
            functions = [("init", layout.`init`), ("destroy", layout.destroy), ("place", layout.place)]
        case .executor:
            (name, minimum) = ("orchion_executor_vtable", MinimumSize.executor)
            let layout = ExecutorLayout.self
            functions = [
                ("init", layout.`init`), ("destroy", layout.destroy), ("prepare", layout.prepare),
                ("release", layout.release), ("classify", layout.classify),
            ]
        }
        guard let size = memory.load(UInt32.self, at: address) else {
            throw .invalidDescriptor(
                file: file, field: "\(name).struct_size", expected: "4 readable bytes", found: "none")
        }
        guard size >= minimum else {
            throw .structTooSmall(file: file, structName: name, found: size, expected: minimum)
        }
        let fields = StructReader(memory: memory, address: address, size: size)
        for (function, offset) in functions {
            guard let pointer = fields.load(UInt.self, at: offset), pointer != 0 else {
                throw .invalidDescriptor(
                    file: file, field: "\(name).\(function)", expected: "a function", found: "NULL")
            }
            guard memory.isCode(pointer) else {
                throw .invalidDescriptor(
                    file: file, field: "\(name).\(function)", expected: "a function in loaded code",
                    found: "address 0x\(String(pointer, radix: 16))")
            }
        }
        return size
    }

    private static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes[0] != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
    }

    /// The scheduler vtable; only valid when `info.kind == .scheduler`.
    /// Fields past `vtableSize` must not be read.
    var schedulerVTable: UnsafePointer<orchion_scheduler_vtable> {
        vtable.assumingMemoryBound(to: orchion_scheduler_vtable.self)
    }

    /// The executor vtable; only valid when `info.kind == .executor`.
    /// Fields past `vtableSize` must not be read.
    var executorVTable: UnsafePointer<orchion_executor_vtable> {
        vtable.assumingMemoryBound(to: orchion_executor_vtable.self)
    }
}
