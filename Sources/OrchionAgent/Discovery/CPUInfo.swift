/// The fields discovery needs from `/proc/cpuinfo`, parsed by hand.
///
/// x86 kernels give one block per logical CPU with "model name", "physical
/// id", "core id" and "flags". ARM kernels give "Features", "CPU
/// implementer" and "CPU part" per CPU, often no "model name", and may end
/// with a block of board facts ("Hardware", "Revision", "Model").
///
/// Threading: a value; safe anywhere.
struct CPUInfo: Sendable, Hashable {
    /// How many "processor" entries the file lists.
    var processors = 0
    /// The first "model name".
    var modelName: String?
    /// The first "flags" (x86) or "Features" (ARM), split on spaces.
    var flags: [String] = []
    /// Distinct "physical id"/"core id" pairs; empty where the kernel gives none.
    var coreKeys: Set<String> = []
    /// The first "CPU implementer" and "CPU part" (ARM), as written ("0x41", "0xd0b").
    var implementer: String?
    var part: String?
    /// "CPU architecture" (ARM: "8").
    var architecture: String?
    /// The board facts some ARM kernels append.
    var hardware: String?
    var boardModel: String?

    /// Parses the text of `/proc/cpuinfo`. Lines without a colon are skipped.
    init(_ text: String) {
        var physical: String?
        var core: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else {
                if line.kernelTrimmed.isEmpty { (physical, core) = (nil, nil) }
                continue
            }
            let key = line[..<colon].kernelTrimmed
            let value = line[line.index(after: colon)...].kernelTrimmed
            switch key {
            case "processor":
                processors += 1
                (physical, core) = (nil, nil)
            case "model name": if modelName == nil { modelName = value }
            case "flags", "Features":
                if flags.isEmpty { flags = value.split(separator: " ").map(String.init) }
            case "physical id": physical = value
            case "core id": core = value
            case "CPU implementer": if implementer == nil { implementer = value }
            case "CPU part": if part == nil { part = value }
            case "CPU architecture": if architecture == nil { architecture = value }
            case "Hardware": hardware = value
            case "Model": boardModel = value
            default: break
            }
            if key == "physical id" || key == "core id", let physical, let core {
                coreKeys.insert(physical + "/" + core)
            }
        }
    }

    /// The ARM core named from its implementer and part ("ARM Cortex-A76"), or nil off ARM.
    var armCoreName: String? {
        guard let implementer, let part else { return nil }
        let implementers: [UInt64: String] = [
            0x41: "ARM", 0x42: "Broadcom", 0x43: "Cavium", 0x46: "Fujitsu", 0x48: "HiSilicon", 0x4e: "NVIDIA",
            0x50: "APM", 0x51: "Qualcomm", 0x61: "Apple", 0x6d: "Microsoft", 0xc0: "Ampere",
        ]
        let armParts: [UInt64: String] = [
            0xb76: "ARM1176", 0xc07: "Cortex-A7", 0xc09: "Cortex-A9", 0xc0f: "Cortex-A15", 0xd03: "Cortex-A53",
            0xd04: "Cortex-A35", 0xd05: "Cortex-A55", 0xd07: "Cortex-A57", 0xd08: "Cortex-A72", 0xd09: "Cortex-A73",
            0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77", 0xd40: "Neoverse-V1",
            0xd41: "Cortex-A78", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510", 0xd47: "Cortex-A710", 0xd48: "Cortex-X2",
            0xd49: "Neoverse-N2", 0xd4b: "Cortex-A78C", 0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3",
            0xd4f: "Neoverse-V2", 0xd80: "Cortex-A520", 0xd81: "Cortex-A720", 0xd82: "Cortex-X4",
        ]
        let implementerCode = KernelText.parseUnsigned(implementer)
        let partCode = KernelText.parseUnsigned(part)
        let vendor = implementerCode.flatMap { implementers[$0] } ?? "implementer \(implementer)"
        if implementerCode == 0x41, let code = partCode, let name = armParts[code] { return "ARM " + name }
        return "\(vendor) part \(part)"
    }

    /// The architecture `uname -m` would print, guessed from the CPU's own
    /// description: for fixture roots without `/proc/sys/kernel/arch`.
    var guessedArch: String? {
        if let modelName, modelName.hasSuffix("(v7l)") { return "armv7l" }
        if let modelName, modelName.hasSuffix("(v6l)") { return "armv6l" }
        if architecture == "8" { return "aarch64" }
        if architecture == "7" { return "armv7l" }
        if flags.contains("lm") { return "x86_64" }
        if flags.contains("fpu") { return "i686" }
        return nil
    }
}

extension KernelText {
    /// How many CPUs a kernel CPU list names ("0-3,6,8-9" → 7); nil when malformed.
    static func cpuListCount(_ text: String) -> Int? {
        var total = 0
        for range in text.kernelTrimmed.split(separator: ",") {
            let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
            guard let first = bounds.first, let low = Int(first), low >= 0 else { return nil }
            switch bounds.count {
            case 1: total += 1
            case 2:
                guard let high = Int(bounds[1]), high >= low, high - low < 1 << 20 else { return nil }
                total += high - low + 1
            default: return nil
            }
            guard total < 1 << 20 else { return nil }
        }
        return total > 0 ? total : nil
    }

    /// The value in bytes of a `/proc/meminfo` line such as "MemTotal:  8245104 kB", by key.
    static func memInfoBytes(_ text: String, _ key: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            guard line.hasPrefix(key), let colon = line.firstIndex(of: ":"), line[..<colon] == key else { continue }
            let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let number = fields.first.flatMap({ UInt64($0) }) else { return nil }
            let unit = fields.count > 1 ? fields[1] : ""
            let (bytes, overflow) = number.multipliedReportingOverflow(by: unit == "kB" ? 1024 : 1)
            return overflow ? nil : bytes
        }
        return nil
    }
}
