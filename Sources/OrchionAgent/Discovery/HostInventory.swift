/// What discovery found on a host: the hardware and system a node reports
/// when it registers. A plain value with no protobuf in it
/// (`OrchionAgentProto` maps it to `orchion.v1.Capabilities`).
///
/// Threading: a value; safe anywhere.
public struct HostInventory: Sendable, Hashable {
    /// The kernel's host name (`/proc/sys/kernel/hostname`).
    public var hostname: String
    /// Operating system and kernel release, e.g. "Linux 6.6.31+rpt-rpi-2712".
    public var os: String
    /// CPU architecture as `uname -m` names it: "x86_64", "aarch64".
    public var arch: String
    /// The processor.
    public var cpu: CPUInventory
    /// Physical memory in bytes (`MemTotal`).
    public var memoryBytes: UInt64
    /// GPUs, NVIDIA first, then AMD, then Intel; `index` is their position here.
    public var gpus: [HostGPU]
    /// Non-GPU accelerators (NPUs, TPUs), one entry per kind and model.
    public var accelerators: [HostAccelerator]
    /// The board's device-tree model ("Raspberry Pi 5 Model B Rev 1.0"), when it has one.
    public var boardModel: String?
    /// The labels the configuration gives the node (discovery adds none of
    /// its own: the facts above are reported as fields).
    public var labels: [String: String]
    /// What discovery could not find out, and why (NVML missing, a tool that
    /// failed...): for logs and `orchion agent discover`, never fatal.
    public var notes: [String]

    /// Creates an inventory.
    public init(
        hostname: String, os: String, arch: String, cpu: CPUInventory, memoryBytes: UInt64, gpus: [HostGPU] = [],
        accelerators: [HostAccelerator] = [], boardModel: String? = nil, labels: [String: String] = [:],
        notes: [String] = []
    ) {
        self.hostname = hostname
        self.os = os
        self.arch = arch
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.accelerators = accelerators
        self.boardModel = boardModel
        self.labels = labels
        self.notes = notes
    }

    /// The Raspberry Pi model, when the board is one ("Raspberry Pi 5 Model B Rev 1.0").
    public var raspberryPiModel: String? {
        guard let boardModel, boardModel.hasPrefix("Raspberry Pi") else { return nil }
        return boardModel
    }
}

/// The processor of a host.
///
/// Threading: a value; safe anywhere.
public struct CPUInventory: Sendable, Hashable {
    /// The model: x86's "model name"; on ARM, where the kernel gives none,
    /// the core named from its implementer and part, with the SoC from the
    /// device tree ("Broadcom BCM2712 (ARM Cortex-A76)").
    public var model: String
    /// Physical cores: distinct (package, core) pairs where the kernel
    /// reports them, else `threads` (ARM cores run one thread each).
    public var cores: Int
    /// Logical CPUs online (`/sys/devices/system/cpu/online`, else
    /// `present`, else the processors `/proc/cpuinfo` lists).
    public var threads: Int
    /// Feature flags: x86 `flags`, ARM `Features`, in the kernel's order.
    public var flags: [String]

    /// Creates a CPU description.
    public init(model: String, cores: Int, threads: Int, flags: [String]) {
        self.model = model
        self.cores = cores
        self.threads = threads
        self.flags = flags
    }
}

/// One GPU of a host.
///
/// Threading: a value; safe anywhere.
public struct HostGPU: Sendable, Hashable {
    /// Lower-case vendor: "nvidia", "amd", "intel".
    public var vendor: String
    /// Model name as the driver reports it ("NVIDIA GeForce RTX 4090").
    public var model: String
    /// Device memory in bytes; 0 where the kernel does not say (Intel
    /// integrated GPUs share system memory).
    public var memoryBytes: UInt64
    /// Index on the node, unique across vendors: its position in `HostInventory.gpus`.
    public var index: UInt32
    /// The index the vendor's runtime uses, for `CUDA_VISIBLE_DEVICES`
    /// (NVML order) or `ROCR_VISIBLE_DEVICES` (KFD order).
    public var deviceIndex: UInt32
    /// Driver and version where known ("550.54.14", "amdgpu", "i915").
    public var driver: String
    /// Where the facts came from.
    public var source: Source
    /// The DRM card directory ("/sys/class/drm/card1"), for sysfs telemetry; nil for NVML and nvidia-smi.
    public var sysfsPath: String?

    /// Where a GPU's facts came from.
    public enum Source: String, Sendable, Hashable {
        /// The NVIDIA management library, loaded at run time.
        case nvml
        /// `nvidia-smi`'s CSV output (NVML could not be loaded).
        case nvidiaSMI = "nvidia-smi"
        /// The kernel's DRM sysfs files.
        case sysfs
    }

    /// Creates a GPU description.
    public init(
        vendor: String, model: String, memoryBytes: UInt64, index: UInt32, deviceIndex: UInt32, driver: String,
        source: Source, sysfsPath: String? = nil
    ) {
        self.vendor = vendor
        self.model = model
        self.memoryBytes = memoryBytes
        self.index = index
        self.deviceIndex = deviceIndex
        self.driver = driver
        self.source = source
        self.sysfsPath = sysfsPath
    }
}

/// Accelerators of one kind and model on a host ("edgetpu", "Coral Edge TPU (PCIe)", 2).
///
/// Threading: a value; safe anywhere.
public struct HostAccelerator: Sendable, Hashable {
    /// What it is, lower-case: "npu", "edgetpu".
    public var kind: String
    /// The model ("Hailo-8", "Coral USB Accelerator").
    public var model: String
    /// How many of them.
    public var count: Int
    /// The device nodes or sysfs entries they were found by ("/dev/hailo0").
    public var devices: [String]

    /// Creates an accelerator description.
    public init(kind: String, model: String, count: Int, devices: [String] = []) {
        self.kind = kind
        self.model = model
        self.count = count
        self.devices = devices
    }
}
