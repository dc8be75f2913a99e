import OrchionCore

extension HostInventory {
    /// The inventory as one JSON object (keys in a fixed order, labels
    /// sorted), written by hand: no Foundation in the agent.
    public var json: String {
        let gpus = self.gpus.map { gpu in
            object([
                ("vendor", quote(gpu.vendor)), ("model", quote(gpu.model)), ("memory_bytes", String(gpu.memoryBytes)),
                ("index", String(gpu.index)), ("device_index", String(gpu.deviceIndex)),
                ("driver", quote(gpu.driver)), ("source", quote(gpu.source.rawValue)),
            ])
        }
        let accelerators = self.accelerators.map { accelerator in
            object([
                ("kind", quote(accelerator.kind)), ("model", quote(accelerator.model)),
                ("count", String(accelerator.count)),
                ("devices", "[" + accelerator.devices.map(quote).joined(separator: ",") + "]"),
            ])
        }
        let labels = self.labels.sorted { $0.key < $1.key }.map { (String($0.key), quote($0.value)) }
        return object([
            ("hostname", quote(hostname)), ("os", quote(os)), ("arch", quote(arch)),
            (
                "cpu",
                object([
                    ("model", quote(cpu.model)), ("cores", String(cpu.cores)), ("threads", String(cpu.threads)),
                    ("flags", "[" + cpu.flags.map(quote).joined(separator: ",") + "]"),
                ])
            ),
            ("memory_bytes", String(memoryBytes)), ("gpus", "[" + gpus.joined(separator: ",") + "]"),
            ("accelerators", "[" + accelerators.joined(separator: ",") + "]"),
            ("board_model", boardModel.map(quote) ?? "null"),
            ("raspberry_pi_model", raspberryPiModel.map(quote) ?? "null"), ("labels", object(labels)),
            ("notes", "[" + notes.map(quote).joined(separator: ",") + "]"),
        ])
    }
}

private func quote(_ text: String) -> String { jsonQuoted(text) }

private func object(_ fields: [(String, String)]) -> String {
    "{" + fields.map { jsonQuoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
}
