import COrchionPlugin
import Glibc
import OrchionPluginHost

/// Arbitrary bytes as what a plugin's entry function returns: a descriptor,
/// the vtable it points at and the strings it names, each region placed
/// right before an unreadable page so that any read past what the plugin
/// provided faults (with or without a sanitizer).
///
/// Layout: byte 0 is the descriptor's length (0–96), byte 1 the vtable's
/// (0–80); then the descriptor's bytes, the vtable's, and a pool of string
/// bytes (NUL-terminated by the harness). A pointer field of the descriptor
/// that lies within its length is not taken as an address: its first byte
/// chooses NULL (a multiple of 4) or a target — the vtable region, or the
/// pool at the offset its next two bytes give.
///
/// Threading: one call at a time (the regions are shared).
enum PluginDescriptorHarness {
    static let descriptorRegion = GuardedRegion()
    static let vtableRegion = GuardedRegion()
    static let poolRegion = GuardedRegion()

    static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 2, let start = input.baseAddress else { return }
        var rest = input.dropFirst(2)
        let descriptorBytes = Array(rest.prefix(Int(input[0]) % 97))
        rest = rest.dropFirst(descriptorBytes.count)
        let vtableBytes = Array(rest.prefix(Int(input[1]) % 81))
        rest = rest.dropFirst(vtableBytes.count)
        let pool = poolRegion.place(Array(rest.prefix(GuardedRegion.capacity - 1)) + [0])
        let vtable = vtableRegion.place(vtableBytes)

        var descriptor = descriptorBytes
        let fields: [(PartialKeyPath<orchion_plugin_descriptor>, isVTable: Bool)] = [
            (\.name, false), (\.version, false), (\.description, false), (\.vtable, true),
        ]
        for (field, isVTable) in fields {
            guard let offset = MemoryLayout<orchion_plugin_descriptor>.offset(of: field),
                offset + 8 <= descriptor.count
            else { continue }
            let choice = descriptor[offset]
            let address: UInt
            if choice % 4 == 0 {
                address = 0
            } else if isVTable {
                address = UInt(bitPattern: vtable.baseAddress)
            } else {
                let at = (Int(descriptor[offset + 1]) << 8 | Int(descriptor[offset + 2])) % pool.count
                address = UInt(bitPattern: pool.baseAddress) + UInt(at)
            }
            withUnsafeBytes(of: address.littleEndian) { descriptor.replaceSubrange(offset..<(offset + 8), with: $0) }
        }
        let placed = descriptorRegion.place(descriptor)
        let base = placed.baseAddress ?? UnsafeRawPointer(descriptorRegion.end)
        // The same bytes twice: as a loaded plugin's memory, with real
        // pointers, and as a buffer whose pointer fields are offsets.
        if let info = try? PluginLibrary.validate(liveDescriptor: base, file: "fuzz-input.so") { accept(info) }
        if let info = try? PluginLibrary.validateDescriptor(
            start, readable: input.count, file: "fuzz-input.so")
        {
            accept(info)
        }
    }

    /// What any accepted descriptor must hold.
    private static func accept(_ info: PluginInfo) {
        let nameBytes = Array(info.name.utf8)
        precondition(
            (1...63).contains(nameBytes.count)
                && nameBytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D },
            "an invalid plugin name was accepted: \(info.name.debugDescription)")
        precondition(!info.version.isEmpty, "an empty plugin version was accepted")
    }
}

/// One page of readable memory followed by an unreadable one; `place` copies
/// bytes so that they end exactly where the unreadable page begins.
///
/// Threading: one caller at a time.
final class GuardedRegion: @unchecked Sendable {
    static let capacity = Int(sysconf(Int32(_SC_PAGESIZE)))
    private let start: UnsafeMutableRawPointer
    /// The first unreadable byte.
    let end: UnsafeMutableRawPointer

    init() {
        let page = Self.capacity
        guard let mapping = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapping != MAP_FAILED
        else { preconditionFailure("fuzz harness: mmap failed, errno \(errno)") }
        guard mprotect(mapping + page, page, PROT_NONE) == 0 else {
            preconditionFailure("fuzz harness: mprotect failed, errno \(errno)")
        }
        start = mapping
        end = mapping + page
    }

    /// Copies `bytes` (at most a page) to end at the unreadable page; returns where they are.
    func place(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let count = min(bytes.count, Self.capacity)
        let at = end - count
        bytes.withUnsafeBytes { at.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(start), byteCount: count) }
        return UnsafeRawBufferPointer(start: at, count: count)
    }
}
