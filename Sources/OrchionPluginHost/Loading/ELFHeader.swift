/// The headers of an ELF file, checked against the file's own size before
/// `dlopen` maps it: a segment that reaches past the end of the file would
/// be mapped past EOF and fault (SIGBUS) when touched.
///
/// Pure: it reads only the bytes it is given, so it may run on any thread.
struct ELFHeader {
    /// ELFCLASS32 or ELFCLASS64.
    let wordSize: UInt8
    /// `e_machine`.
    let machine: UInt16
    /// The loadable segments, as the program headers declare them.
    var loads: [Segment] = []
    /// The PT_DYNAMIC program header, if any (`ELFDynamic` reads it).
    var dynamic: Segment?

    /// One PT_LOAD program header.
    struct Segment: Equatable {
        let offset: UInt64
        let fileSize: UInt64
        let virtualAddress: UInt64
        let memorySize: UInt64
        let executable: Bool
    }

    /// Reads and checks the headers of `bytes`, the whole content of `file`.
    static func check(_ bytes: [UInt8], file: String) throws(PluginError) -> ELFHeader {
        guard bytes.count >= 4, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
            let shown = bytes.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            throw .notELF(file: file, found: bytes.isEmpty ? "an empty file" : "bytes \(shown)")
        }
        guard bytes.count >= 20 else { throw .notELF(file: file, found: "a truncated ELF header") }
        // e_ident[EI_DATA] == 1 is little-endian; e_machine is at offset 18.
        let machine =
            bytes[5] == 1
            ? UInt16(bytes[18]) | UInt16(bytes[19]) << 8
            : UInt16(bytes[19]) | UInt16(bytes[18]) << 8
        var header = ELFHeader(wordSize: bytes[4], machine: machine)
        let expected = ELFHeader.host
        if header.wordSize != expected.wordSize || header.machine != expected.machine {
            throw .wrongArchitecture(file: file, found: header.summary, expected: expected.summary)
        }
        guard bytes[5] == ELFHeader.hostData else {
            throw .wrongArchitecture(
                file: file, found: "byte order \(bytes[5])", expected: "byte order \(ELFHeader.hostData)")
        }
        (header.loads, header.dynamic) = try programHeaders(bytes, file: file)
        return header
    }

    /// Checks the ELF header's tables against the file size and returns the
    /// PT_LOAD segments (ascending, not overlapping, each ending below the
    /// user address-space limit) and the PT_DYNAMIC header. Only ELFCLASS64 reaches here on 64-bit hosts and
    /// ELFCLASS32 on 32-bit ones; both layouts are read.
    private static func programHeaders(
        _ bytes: [UInt8], file: String
    ) throws(PluginError) -> (loads: [Segment], dynamic: Segment?) {
        let wide = bytes[4] == 2
        let ehsize = wide ? 64 : 52
        guard bytes.count >= ehsize else { throw .notELF(file: file, found: "a truncated ELF header") }
        let reader = Reader(bytes: bytes, little: bytes[5] == 1)
        let size = UInt64(bytes.count)
        let type = reader.u16(16)
        guard type == 3 else {
            throw .inconsistentELF(file: file, found: "e_type \(type)", expected: "3 (ET_DYN, a shared object)")
        }
        let phoff = wide ? reader.u64(32) : UInt64(reader.u32(28))
        let shoff = wide ? reader.u64(40) : UInt64(reader.u32(32))
        let base = wide ? 52 : 40  // e_ehsize's offset
        let phentsize = UInt64(reader.u16(base + 2))
        let phnum = UInt64(reader.u16(base + 4))
        let shentsize = UInt64(reader.u16(base + 6))
        let shnum = UInt64(reader.u16(base + 8))
        let phentExpected: UInt64 = wide ? 56 : 32
        let shentExpected: UInt64 = wide ? 64 : 40
        guard phnum > 0, phnum < 0xFFFF else {
            throw .inconsistentELF(file: file, found: "e_phnum \(phnum)", expected: "1 to 65534 program headers")
        }
        guard phentsize == phentExpected else {
            throw .inconsistentELF(file: file, found: "e_phentsize \(phentsize)", expected: "\(phentExpected)")
        }
        guard fits(offset: phoff, count: phnum, each: phentsize, within: size) else {
            throw .inconsistentELF(
                file: file, found: "program headers at \(phoff) (\(phnum) × \(phentsize) bytes)",
                expected: "them within the file's \(size) bytes")
        }
        if shnum > 0 || shoff != 0 {
            guard shentsize == shentExpected else {
                throw .inconsistentELF(file: file, found: "e_shentsize \(shentsize)", expected: "\(shentExpected)")
            }
            guard fits(offset: shoff, count: shnum, each: shentsize, within: size) else {
                throw .inconsistentELF(
                    file: file, found: "section headers at \(shoff) (\(shnum) × \(shentsize) bytes)",
                    expected: "them within the file's \(size) bytes")
            }
        }
        var loads: [Segment] = []
        var dynamic: Segment?
        // The lowest address no user mapping reaches (x86_64's 47-bit user
        // space; 4 GiB for 32-bit files).
        let addressLimit: UInt64 = wide ? 1 << 47 : 1 << 32
        for index in 0..<Int(phnum) {
            let at = Int(phoff) + index * Int(phentsize)
            let type = reader.u32(at)
            let flags = wide ? reader.u32(at + 4) : reader.u32(at + 24)
            let offset = wide ? reader.u64(at + 8) : UInt64(reader.u32(at + 4))
            let vaddr = wide ? reader.u64(at + 16) : UInt64(reader.u32(at + 8))
            let filesz = wide ? reader.u64(at + 32) : UInt64(reader.u32(at + 16))
            let memsz = wide ? reader.u64(at + 40) : UInt64(reader.u32(at + 20))
            // PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR, PT_GNU_EH_FRAME
            // and every other type that names file bytes must lie inside the
            // file; PT_NULL (0) and PT_GNU_STACK (0x6474E551) name none.
            if type != 0, type != 0x6474_E551,
                !fits(offset: offset, count: 1, each: filesz, within: size)
            {
                throw .inconsistentELF(
                    file: file,
                    found: "program header \(index) (type \(type)) covering bytes \(offset)+\(filesz)",
                    expected: "it within the file's \(size) bytes")
            }
            if type == 1 {
                guard filesz <= memsz else {
                    throw .inconsistentELF(
                        file: file, found: "segment \(index) with p_filesz \(filesz) > p_memsz \(memsz)",
                        expected: "p_filesz ≤ p_memsz")
                }
                let (end, wraps) = vaddr.addingReportingOverflow(memsz)
                guard !wraps, end <= addressLimit else {
                    throw .inconsistentELF(
                        file: file, found: "segment \(index) at 0x\(String(vaddr, radix: 16)) + p_memsz \(memsz)",
                        expected: "it to end below 0x\(String(addressLimit, radix: 16))")
                }
                // The ELF specification: PT_LOAD entries ascend by p_vaddr.
                if let previous = loads.last, vaddr < previous.virtualAddress + previous.memorySize {
                    throw .inconsistentELF(
                        file: file,
                        found: "segment \(index) at 0x\(String(vaddr, radix: 16)) below the end of the one before "
                            + "(0x\(String(previous.virtualAddress + previous.memorySize, radix: 16)))",
                        expected: "PT_LOAD segments in ascending p_vaddr order, not overlapping")
                }
                loads.append(
                    Segment(
                        offset: offset, fileSize: filesz, virtualAddress: vaddr, memorySize: memsz,
                        executable: flags & 1 != 0))
            } else if type == 2 {
                dynamic = Segment(
                    offset: offset, fileSize: filesz, virtualAddress: vaddr, memorySize: memsz, executable: false)
            }
        }
        guard !loads.isEmpty else {
            throw .inconsistentELF(file: file, found: "no PT_LOAD segment", expected: "at least one")
        }
        return (loads, dynamic)
    }

    /// Whether `count` records of `each` bytes at `offset` end within `size`,
    /// without overflowing.
    private static func fits(offset: UInt64, count: UInt64, each: UInt64, within size: UInt64) -> Bool {
        let (length, overflow) = count.multipliedReportingOverflow(by: each)
        let (end, overflow2) = offset.addingReportingOverflow(length)
        return !overflow && !overflow2 && end <= size
    }

    /// Whether the virtual address `address` (relative to the load base) lies
    /// in an executable loaded segment.
    func isExecutable(_ address: UInt64) -> Bool {
        loads.contains { segment in
            segment.executable && address >= segment.virtualAddress
                && address - segment.virtualAddress < segment.memorySize
        }
    }

    /// This process's own word size and machine.
    static var host: ELFHeader {
        #if arch(x86_64)
            ELFHeader(wordSize: 2, machine: 62)
        #elseif arch(arm64)
            ELFHeader(wordSize: 2, machine: 183)
        #elseif arch(arm)
            ELFHeader(wordSize: 1, machine: 40)
        #elseif arch(riscv64)
            ELFHeader(wordSize: 2, machine: 243)
        #else
            ELFHeader(wordSize: MemoryLayout<Int>.size == 8 ? 2 : 1, machine: 0)
        #endif
    }

    /// This process's byte order as `e_ident[EI_DATA]`: 1 little, 2 big.
    static var hostData: UInt8 {
        #if _endian(little)
            1
        #else
            2
        #endif
    }

    /// "64-bit x86_64", "32-bit arm", ...
    var summary: String {
        let bits = wordSize == 2 ? "64-bit" : wordSize == 1 ? "32-bit" : "class-\(wordSize)"
        let names: [UInt16: String] = [
            3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv", 8: "mips", 21: "ppc64",
        ]
        return "\(bits) \(names[machine] ?? "machine \(machine)")"
    }

    /// Reads in the file's byte order at offsets the caller has checked.
    private struct Reader {
        let bytes: [UInt8]
        let little: Bool

        func u16(_ at: Int) -> UInt16 {
            little ? UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 : UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        }
        func u32(_ at: Int) -> UInt32 {
            little ? UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 : UInt32(u16(at)) << 16 | UInt32(u16(at + 2))
        }
        func u64(_ at: Int) -> UInt64 {
            little ? UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 : UInt64(u32(at)) << 32 | UInt64(u32(at + 4))
        }
    }
}
