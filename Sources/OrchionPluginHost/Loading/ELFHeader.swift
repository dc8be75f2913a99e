import Glibc

/// The first bytes of an ELF file: enough to refuse a foreign or non-ELF
/// file with a precise message before `dlopen` sees it.
struct ELFHeader {
    /// ELFCLASS32 or ELFCLASS64.
    let wordSize: UInt8
    /// `e_machine`.
    let machine: UInt16

    /// Reads and checks the header of `file` against this host.
    static func check(_ file: String) throws(PluginError) {
        let header = try read(file)
        let expected = ELFHeader.host
        if header.wordSize != expected.wordSize || header.machine != expected.machine {
            throw .wrongArchitecture(file: file, found: header.summary, expected: expected.summary)
        }
    }

    static func read(_ file: String) throws(PluginError) -> ELFHeader {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(file: file, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 20)
        let count = Glibc.read(descriptor, &bytes, bytes.count)
        guard count >= 4, bytes[0...3] == [0x7F, 0x45, 0x4C, 0x46] else {
            let shown = bytes.prefix(max(count, 0)).prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            throw .notELF(file: file, found: count <= 0 ? "an empty file" : "bytes \(shown)")
        }
        guard count >= 20 else { throw .notELF(file: file, found: "a truncated ELF header") }
        // e_ident[EI_DATA] == 1 is little-endian; e_machine is at offset 18.
        let machine =
            bytes[5] == 1
            ? UInt16(bytes[18]) | UInt16(bytes[19]) << 8
            : UInt16(bytes[19]) | UInt16(bytes[18]) << 8
        return ELFHeader(wordSize: bytes[4], machine: machine)
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

    /// "64-bit x86_64", "32-bit arm", ...
    var summary: String {
        let bits = wordSize == 2 ? "64-bit" : wordSize == 1 ? "32-bit" : "class-\(wordSize)"
        let names: [UInt16: String] = [
            3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv", 8: "mips", 21: "ppc64",
        ]
        return "\(bits) \(names[machine] ?? "machine \(machine)")"
    }
}
