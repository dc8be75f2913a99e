/// Non-GPU accelerators: Coral Edge TPUs (PCIe `/dev/apex_N`, USB by their
/// ids), Hailo NPUs (`/dev/hailoN`) and whatever the kernel's compute
/// accelerator class lists (`/sys/class/accel`, `/dev/accel`). Device nodes
/// are detected by name only, never opened.
///
/// Threading: blocking file reads; off the loop thread.
struct AcceleratorDiscovery {
    let root: HostRoot

    /// USB vendor:product ids of the Coral USB Accelerator: before its
    /// firmware is loaded (Global Unichip) and after (Google).
    static let coralUSBIDs: Set<String> = ["1a6e:089a", "18d1:9302"]

    /// Hailo PCI device ids. The Hailo-8L shares the Hailo-8's id, so it is reported as "Hailo-8".
    static let hailoModels: [UInt64: String] = [0x2864: "Hailo-8", 0x45c4: "Hailo-10H"]

    /// Kernel drivers of the accel class, by the name their `driver` link has.
    static let accelModels: [String: String] = [
        "intel_vpu": "Intel NPU", "amdxdna": "AMD XDNA NPU", "habanalabs": "Habana Gaudi",
        "qaic": "Qualcomm Cloud AI 100", "rocket": "Rockchip NPU", "ethosu": "Arm Ethos-U",
    ]

    func accelerators() -> [HostAccelerator] {
        var found: [HostAccelerator] = []
        func add(_ kind: String, _ model: String, _ device: String) {
            if let at = found.firstIndex(where: { $0.kind == kind && $0.model == model }) {
                found[at].count += 1
                found[at].devices.append(device)
            } else {
                found.append(HostAccelerator(kind: kind, model: model, count: 1, devices: [device]))
            }
        }
        let devices = root.entries("/dev")
        for name in devices {
            let (prefix, number) = KernelText.splitTrailingNumber(name)
            guard number != nil else { continue }
            if prefix == "apex_" { add("edgetpu", "Coral Edge TPU (PCIe)", "/dev/" + name) }
            if prefix == "hailo" { add("npu", hailoModel(name), "/dev/" + name) }
        }
        for name in root.entries("/sys/bus/usb/devices") {
            let path = "/sys/bus/usb/devices/" + name
            guard let vendor = root.value(path + "/idVendor"), let product = root.value(path + "/idProduct"),
                Self.coralUSBIDs.contains(vendor.lowercased() + ":" + product.lowercased())
            else { continue }
            add("edgetpu", "Coral USB Accelerator", path)
        }
        let accelClass = root.entries("/sys/class/accel").filter { KernelText.splitTrailingNumber($0).0 == "accel" }
        if !accelClass.isEmpty {
            for name in accelClass {
                let driver = root.linkName("/sys/class/accel/" + name + "/device/driver")
                add("npu", driver.map { Self.accelModels[$0] ?? $0 } ?? "unknown", "/dev/accel/" + name)
            }
        } else {
            for name in root.entries("/dev/accel") where KernelText.splitTrailingNumber(name).0 == "accel" {
                add("npu", "unknown", "/dev/accel/" + name)
            }
        }
        return found
    }

    /// The Hailo model from the PCI device behind `/sys/class/hailo_chardev/<name>`.
    private func hailoModel(_ name: String) -> String {
        let device = "/sys/class/hailo_chardev/" + name + "/device"
        guard let id = root.unsigned(device + "/device") else { return "Hailo" }
        return Self.hailoModels[id] ?? "Hailo 0x" + String(id, radix: 16)
    }
}
