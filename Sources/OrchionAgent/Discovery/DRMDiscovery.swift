/// AMD and Intel GPUs from the kernel's DRM class (`/sys/class/drm/cardN/device`),
/// with AMD's compute ordering from `/sys/class/kfd`.
///
/// Threading: blocking file reads; off the loop thread.
struct DRMDiscovery {
    let root: HostRoot

    /// A GPU the DRM class lists, before indices are given.
    struct Card: Hashable {
        var vendor: String
        var model: String
        var memoryBytes: UInt64
        var driver: String
        var path: String
        var renderMinor: UInt64?
    }

    /// The PCI vendor ids discovery knows.
    static let vendors: [UInt64: String] = [0x1002: "amd", 0x8086: "intel", 0x10de: "nvidia"]

    /// Every `cardN` whose device has a known PCI vendor, in card order.
    func cards() -> [Card] {
        var cards: [Card] = []
        for name in root.entries("/sys/class/drm") {
            let (prefix, number) = KernelText.splitTrailingNumber(name)
            guard prefix == "card", number != nil else { continue }  // skips card0-DP-1, renderD128
            let path = "/sys/class/drm/" + name
            guard let vendorID = root.unsigned(path + "/device/vendor"), let vendor = Self.vendors[vendorID] else {
                continue
            }
            let deviceID = root.unsigned(path + "/device/device")
            var card = Card(
                vendor: vendor, model: "", memoryBytes: root.unsigned(path + "/device/mem_info_vram_total") ?? 0,
                driver: driverName(path + "/device"), path: path, renderMinor: renderMinor(path + "/device"))
            card.model =
                root.value(path + "/device/product_name")
                ?? (vendor == "amd" ? amdgpuName(deviceID, revision: root.unsigned(path + "/device/revision")) : nil)
                ?? pciName(vendorID, deviceID)
                ?? (Self.vendorNames[vendor] ?? vendor) + " GPU" + (deviceID.map { " " + hex($0) } ?? "")
            cards.append(card)
        }
        return cards
    }

    /// The render-node minors of KFD's GPU nodes in KFD order: the order
    /// ROCm numbers devices in (`ROCR_VISIBLE_DEVICES`).
    func kfdRenderMinors() -> [UInt64] {
        let nodes = "/sys/class/kfd/kfd/topology/nodes"
        var minors: [UInt64] = []
        for node in root.entries(nodes) {
            guard let text = root.text(nodes + "/" + node + "/properties", limit: 64 << 10) else { continue }
            var simds: UInt64 = 0
            var minor: UInt64?
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 2 else { continue }
                if fields[0] == "simd_count" { simds = UInt64(fields[1]) ?? 0 }
                if fields[0] == "drm_render_minor" { minor = UInt64(fields[1]) }
            }
            if simds > 0, let minor { minors.append(minor) }  // CPU nodes have no SIMDs
        }
        return minors
    }

    static let vendorNames = ["amd": "AMD", "intel": "Intel", "nvidia": "NVIDIA"]

    /// The driver bound to the device ("amdgpu", "i915"), with the module's version when it has one.
    private func driverName(_ device: String) -> String {
        guard let name = root.linkName(device + "/driver") else { return "" }
        guard let version = root.value("/sys/module/" + name + "/version") else { return name }
        return name + " " + version
    }

    /// N of the device's `drm/renderDN`.
    private func renderMinor(_ device: String) -> UInt64? {
        for name in root.entries(device + "/drm") {
            let (prefix, number) = KernelText.splitTrailingNumber(name)
            if prefix == "renderD", let number { return number }
        }
        return nil
    }

    /// The marketing name libdrm's `amdgpu.ids` gives the device and revision.
    private func amdgpuName(_ device: UInt64?, revision: UInt64?) -> String? {
        guard let device, let revision,
            let text = root.text("/usr/share/libdrm/amdgpu.ids")
        else { return nil }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ",", maxSplits: 2).map(\.kernelTrimmed)
            guard fields.count == 3, UInt64(fields[0], radix: 16) == device, UInt64(fields[1], radix: 16) == revision
            else { continue }
            return fields[2]
        }
        return nil
    }

    /// The name `pci.ids` gives the device: the bracketed marketing name
    /// when there is one ("DG2 [Arc A770]" → "Intel Arc A770").
    private func pciName(_ vendor: UInt64, _ device: UInt64?) -> String? {
        guard let device,
            let text = root.text("/usr/share/misc/pci.ids") ?? root.text("/usr/share/hwdata/pci.ids")
        else { return nil }
        let vendorKey = hex4(vendor) + "  "
        let deviceKey = "\t" + hex4(device) + "  "
        var inVendor = false
        for line in text.split(separator: "\n") {
            if !line.hasPrefix("\t") {
                if inVendor { return nil }
                inVendor = line.hasPrefix(vendorKey)
                continue
            }
            guard inVendor, line.hasPrefix(deviceKey) else { continue }
            let name = line.dropFirst(deviceKey.count).kernelTrimmed
            let prefix = Self.vendors[vendor].flatMap { Self.vendorNames[$0] } ?? ""
            if let open = name.lastIndex(of: "["), let close = name.lastIndex(of: "]"), open < close {
                let marketing = String(name[name.index(after: open)..<close])
                return marketing.hasPrefix(prefix) ? marketing : prefix + " " + marketing
            }
            return name.hasPrefix(prefix) ? name : prefix + " " + name
        }
        return nil
    }

    private func hex(_ value: UInt64) -> String { "0x" + hex4(value) }

    private func hex4(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
