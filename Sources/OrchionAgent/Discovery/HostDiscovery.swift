import Glibc

/// Finds out what a host is: reads the kernel's own files under `root`,
/// NVIDIA GPUs through NVML (opened at run time) or `nvidia-smi`, and merges
/// the configured labels in. Nothing it cannot read is fatal: the field stays
/// empty (or zero) and `HostInventory.notes` says why.
///
/// Threading: `discover()` blocks (file reads, NVML, maybe a child process
/// for up to `toolTimeoutMillis`); run it off the loop thread.
public struct HostDiscovery: Sendable {
    /// The tree the kernel's files are read from.
    public var root: HostRoot
    /// The NVML library to open (a path or a name the dynamic linker
    /// finds); nil to not try NVML. Not read through `root`: NVML talks to
    /// the live driver.
    public var nvmlLibrary: String?
    /// Where `nvidia-smi` is, as a path on the host (run from under `root`),
    /// tried when NVML gives nothing; nil to never run it.
    public var nvidiaSMI: String?
    /// How long `nvidia-smi` may take, in milliseconds.
    public var toolTimeoutMillis: Int
    /// Labels from the configuration; they win over discovered ones.
    public var labels: [String: String]

    /// Creates a discovery of `root` ("/" for this host).
    public init(
        root: HostRoot = HostRoot(), nvmlLibrary: String? = NVML.defaultLibrary,
        nvidiaSMI: String? = "/usr/bin/nvidia-smi", toolTimeoutMillis: Int = 10_000, labels: [String: String] = [:]
    ) {
        self.root = root
        self.nvmlLibrary = nvmlLibrary
        self.nvidiaSMI = nvidiaSMI
        self.toolTimeoutMillis = toolTimeoutMillis
        self.labels = labels
    }

    /// Everything discovery can find out, loading NVML from `nvmlLibrary`.
    ///
    /// The default library missing is the normal case on a host without an
    /// NVIDIA driver and is not noted (an NVIDIA device without any source
    /// is); a library named explicitly that fails to load is.
    public func discover() -> HostInventory {
        var notes: [String] = []
        var nvml: NVML?
        if let nvmlLibrary {
            do { nvml = try NVML.load(nvmlLibrary) } catch {
                if case .notLoadable = error, nvmlLibrary == NVML.defaultLibrary {
                } else {
                    notes.append(error.description)
                }
            }
        }
        var inventory = discover(nvml: nvml)
        inventory.notes.insert(contentsOf: notes, at: 0)
        return inventory
    }

    /// Everything discovery can find out, asking `nvml` (already loaded, or
    /// nil) about NVIDIA GPUs.
    public func discover(nvml: NVML?) -> HostInventory {
        var notes: [String] = []
        let cpuText = root.text("/proc/cpuinfo")
        if cpuText == nil { notes.append("cannot read \(root.resolve("/proc/cpuinfo"))") }
        let cpuInfo = CPUInfo(cpuText ?? "")
        // /proc/device-tree links to the firmware's copy; read that where the link is not there.
        let compatible =
            root.text("/proc/device-tree/compatible", limit: 4096)
            ?? root.text("/sys/firmware/devicetree/base/compatible", limit: 4096)
        let boardModel =
            root.value("/proc/device-tree/model") ?? root.value("/sys/firmware/devicetree/base/model")
        let memory = root.text("/proc/meminfo").flatMap { KernelText.memInfoBytes($0, "MemTotal") }
        if memory == nil { notes.append("no MemTotal in \(root.resolve("/proc/meminfo"))") }
        var inventory = HostInventory(
            hostname: root.value("/proc/sys/kernel/hostname") ?? "",
            os: [root.value("/proc/sys/kernel/ostype") ?? "Linux", root.value("/proc/sys/kernel/osrelease")]
                .compactMap { $0 }.joined(separator: " "),
            arch: arch(cpuInfo, notes: &notes),
            cpu: CPUInventory(
                model: cpuModel(cpuInfo, compatible: compatible, boardModel: boardModel), cores: 0, threads: 0,
                flags: cpuInfo.flags),
            memoryBytes: memory ?? 0, boardModel: boardModel, labels: labels)
        let threads =
            root.value("/sys/devices/system/cpu/online").flatMap(KernelText.cpuListCount)
            ?? root.value("/sys/devices/system/cpu/present").flatMap(KernelText.cpuListCount) ?? cpuInfo.processors
        inventory.cpu.threads = threads
        inventory.cpu.cores = cpuInfo.coreKeys.isEmpty ? threads : cpuInfo.coreKeys.count
        inventory.gpus = gpus(nvml: nvml, notes: &notes)
        inventory.accelerators = AcceleratorDiscovery(root: root).accelerators()
        inventory.notes = notes
        return inventory
    }

    /// `/proc/sys/kernel/arch`; on the live root `uname`; else a guess from the CPU.
    private func arch(_ cpu: CPUInfo, notes: inout [String]) -> String {
        if let arch = root.value("/proc/sys/kernel/arch") { return arch }
        if root.isLive {
            var names = utsname()
            if uname(&names) == 0 {
                let machine = withUnsafeBytes(of: names.machine) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if !machine.isEmpty { return machine }
            }
        }
        if let guess = cpu.guessedArch { return guess }
        notes.append("architecture unknown: no /proc/sys/kernel/arch and nothing in /proc/cpuinfo tells")
        return "unknown"
    }

    /// "model name" where the kernel gives one; on ARM the core from its
    /// part number with the SoC the device tree or "Hardware" names; then
    /// the board model as a last resort.
    private func cpuModel(_ cpu: CPUInfo, compatible: String?, boardModel: String?) -> String {
        if let name = cpu.modelName, !name.isEmpty { return name }
        let soc = compatible.flatMap(Self.socName) ?? cpu.hardware
        if let core = cpu.armCoreName { return soc.map { "\($0) (\(core))" } ?? core }
        return soc ?? cpu.boardModel ?? boardModel ?? "unknown"
    }

    /// The SoC in a device-tree `compatible` list, its last entry:
    /// "raspberrypi,5-model-b\0brcm,bcm2712\0" → "Broadcom BCM2712".
    static func socName(_ compatible: String) -> String? {
        guard let last = compatible.split(separator: "\0").last(where: { !$0.kernelTrimmed.isEmpty }),
            let comma = last.firstIndex(of: ",")
        else { return nil }
        let vendors = [
            "brcm": "Broadcom", "rockchip": "Rockchip", "amlogic": "Amlogic", "allwinner": "Allwinner",
            "nvidia": "NVIDIA", "qcom": "Qualcomm", "mediatek": "MediaTek", "fsl": "NXP", "nxp": "NXP",
            "ti": "TI", "samsung": "Samsung", "starfive": "StarFive", "sophgo": "Sophgo",
        ]
        let chip = last[last.index(after: comma)...].kernelTrimmed.uppercased()
        guard !chip.isEmpty else { return nil }
        return vendors[String(last[..<comma])].map { $0 + " " + chip } ?? chip
    }

    /// NVIDIA (NVML, else nvidia-smi), then AMD and Intel from DRM, indexed in that order.
    private func gpus(nvml: NVML?, notes: inout [String]) -> [HostGPU] {
        var nvidia: [HostGPU] = []
        var nvmlAnswered = false
        if let nvml {
            switch NvidiaDiscovery.fromNVML(nvml) {
            case .success(let found):
                nvidia = found
                nvmlAnswered = true
            case .failure(let error): notes.append(error.description)
            }
        }
        if !nvmlAnswered, let nvidiaSMI, root.exists(nvidiaSMI) {
            let program = root.resolve(nvidiaSMI)
            switch ToolRun.output(program, NvidiaDiscovery.smiArguments, timeoutMillis: toolTimeoutMillis) {
            case .success(let text):
                switch NvidiaDiscovery.parseSMI(text) {
                case .success(let found): nvidia = found
                case .failure(let error): notes.append(error.description)
                }
            case .failure(let error): notes.append(error.description)
            }
        }
        let drm = DRMDiscovery(root: root)
        let cards = drm.cards()
        if nvidia.isEmpty {
            let evidence =
                cards.first(where: { $0.vendor == "nvidia" })?.path
                ?? ["/dev/nvidia0", "/proc/driver/nvidia/gpus"].first(where: root.exists)
            if let evidence {
                notes.append("an NVIDIA GPU is at \(evidence) but neither NVML nor nvidia-smi described it")
            }
        }
        let kfd = drm.kfdRenderMinors()
        var gpus = nvidia
        for vendor in ["amd", "intel"] {
            for (ordinal, card) in cards.filter({ $0.vendor == vendor }).enumerated() {
                let kfdIndex = vendor == "amd" ? card.renderMinor.flatMap { kfd.firstIndex(of: $0) } : nil
                gpus.append(
                    HostGPU(
                        vendor: vendor, model: card.model, memoryBytes: card.memoryBytes, index: 0,
                        deviceIndex: UInt32(clamping: kfdIndex ?? ordinal), driver: card.driver, source: .sysfs,
                        sysfsPath: card.path))
            }
        }
        for position in gpus.indices { gpus[position].index = UInt32(clamping: position) }
        return gpus
    }
}
