/// The dynamic table of an ELF file, read from the file's bytes and checked
/// before `dlopen`: `ld.so` trusts every address in it, so an entry pointing
/// outside the loaded image (or a string offset past the string table) would
/// fault inside `dlopen`, in the host.
///
/// Pure: it reads only the bytes it is given, so it may run on any thread.
struct ELFDynamic {
    /// DT_NEEDED names, in order.
    var needed: [String] = []
    /// DT_RUNPATH entries (split at ':'), in order.
    var runPath: [String] = []
    /// DT_RPATH entries (split at ':'), in order.
    var rPath: [String] = []
    /// DT_SONAME, if any.
    var soname: String?

    /// Dynamic tags whose value is an address in the image, with the tag
    /// holding the size of what it points at (nil: no size is declared).
    static let addressTags: [(tag: Int64, name: String, sizeTag: Int64?)] = [
        (5, "DT_STRTAB", 10), (6, "DT_SYMTAB", nil), (4, "DT_HASH", nil), (0x6fff_fef5, "DT_GNU_HASH", nil),
        (0x6fff_fff0, "DT_VERSYM", nil), (0x6fff_fffc, "DT_VERDEF", nil), (0x6fff_fffe, "DT_VERNEED", nil),
        (25, "DT_INIT_ARRAY", 27), (26, "DT_FINI_ARRAY", 28), (32, "DT_PREINIT_ARRAY", 33),
        (23, "DT_JMPREL", 2), (7, "DT_RELA", 8), (17, "DT_REL", 18), (36, "DT_RELR", 35),
        (12, "DT_INIT", nil), (13, "DT_FINI", nil),
    ]

    /// Reads and checks the dynamic table of `bytes` (already checked by
    /// `ELFHeader.check`, which found `header`). A file without PT_DYNAMIC
    /// has no dynamic entries.
    static func check(_ bytes: [UInt8], header: ELFHeader, file: String) throws(PluginError) -> ELFDynamic {
        guard let table = header.dynamic else { return ELFDynamic() }
        let wide = header.wordSize == 2
        let reader = Reader(bytes: bytes, little: bytes.count > 5 && bytes[5] == 1)
        // What `ld.so` reads is the loaded image at p_vaddr, so the table
        // must lie in the file-backed part of a PT_LOAD.
        guard let start = fileOffset(of: table.virtualAddress, size: table.fileSize, in: header.loads) else {
            throw .inconsistentELF(
                file: file,
                found: "PT_DYNAMIC at address \(hex(table.virtualAddress)) (\(table.fileSize) bytes)",
                expected: "it inside the file-backed part of a PT_LOAD segment")
        }
        let entrySize: UInt64 = wide ? 16 : 8
        var entries: [(tag: Int64, value: UInt64)] = []
        var terminated = false
        var index: UInt64 = 0
        while (index + 1) * entrySize <= table.fileSize {
            let at = Int(start + index * entrySize)
            let tag = wide ? Int64(bitPattern: reader.u64(at)) : Int64(Int32(bitPattern: reader.u32(at)))
            let value = wide ? reader.u64(at + 8) : UInt64(reader.u32(at + 4))
            if tag == 0 {
                terminated = true
                break
            }
            entries.append((tag, value))
            index += 1
        }
        guard terminated else {
            throw .inconsistentELF(
                file: file, found: "a dynamic table of \(table.fileSize) bytes without DT_NULL",
                expected: "DT_NULL ending it within PT_DYNAMIC")
        }
        func value(_ tag: Int64) -> UInt64? { entries.last { $0.tag == tag }?.value }

        for (tag, name, sizeTag) in addressTags {
            guard let address = value(tag) else { continue }
            let size = sizeTag.flatMap(value)
            guard fileOffset(of: address, size: size ?? 1, in: header.loads) != nil else {
                let sized = size.map { " + \($0) bytes" } ?? ""
                throw .inconsistentELF(
                    file: file, found: "\(name) at address \(hex(address))\(sized)",
                    expected: "it inside the file-backed part of a PT_LOAD segment")
            }
        }

        var dynamic = ELFDynamic()
        let stringTags: [(tag: Int64, name: String)] = [
            (1, "DT_NEEDED"), (29, "DT_RUNPATH"), (15, "DT_RPATH"), (14, "DT_SONAME"),
        ]
        guard entries.contains(where: { entry in stringTags.contains { $0.tag == entry.tag } }) else { return dynamic }
        guard let strtab = value(5), let strsz = value(10),
            let strings = fileOffset(of: strtab, size: strsz, in: header.loads)
        else {
            throw .inconsistentELF(
                file: file, found: "DT_NEEDED, DT_RUNPATH, DT_RPATH or DT_SONAME without DT_STRTAB and DT_STRSZ",
                expected: "a string table for their names")
        }
        for (tag, offset) in entries {
            guard let name = stringTags.first(where: { $0.tag == tag })?.name else { continue }
            guard offset < strsz, let end = bytes[Int(strings + offset)..<Int(strings + strsz)].firstIndex(of: 0) else {
                throw .inconsistentELF(
                    file: file, found: "\(name) at string offset \(offset)",
                    expected: "a NUL-terminated string within DT_STRSZ (\(strsz) bytes)")
            }
            let text = String(decoding: bytes[Int(strings + offset)..<end], as: UTF8.self)
            switch tag {
            case 1: dynamic.needed.append(text)
            case 29: dynamic.runPath += text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            case 15: dynamic.rPath += text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            default: dynamic.soname = text
            }
        }
        return dynamic
    }

    /// The file offset of `size` bytes at `address` when they all lie in the
    /// file-backed part (p_vaddr ..< p_vaddr + p_filesz) of one PT_LOAD;
    /// nil otherwise. Overflow-checked; the result plus `size` is within the
    /// file because `ELFHeader` checked each PT_LOAD's file range.
    static func fileOffset(of address: UInt64, size: UInt64, in loads: [ELFHeader.Segment]) -> UInt64? {
        for load in loads where address >= load.virtualAddress {
            let into = address - load.virtualAddress
            guard into <= load.fileSize, size <= load.fileSize - into else { continue }
            return load.offset + into
        }
        return nil
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// Reads in the file's byte order at offsets the caller has checked.
    private struct Reader {
        let bytes: [UInt8]
        let little: Bool

        func u32(_ at: Int) -> UInt32 {
            var value: UInt32 = 0
            for index in 0..<4 {
                let byte = UInt32(bytes[little ? at + index : at + 3 - index])
                value |= byte << (8 * UInt32(index))
            }
            return value
        }
        func u64(_ at: Int) -> UInt64 {
            let low = UInt64(u32(little ? at : at + 4))
            let high = UInt64(u32(little ? at + 4 : at))
            return low | high << 32
        }
    }
}
