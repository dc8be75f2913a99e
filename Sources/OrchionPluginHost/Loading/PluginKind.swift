import COrchionPlugin

/// What a plugin does.
public enum PluginKind: String, Sendable, Hashable, Codable {
    /// Places pending jobs onto nodes.
    case scheduler
    /// Turns jobs into process launches.
    case executor

    init?(raw: Int32) {
        switch raw {
        case Int32(ORCHION_KIND_SCHEDULER.rawValue): self = .scheduler
        case Int32(ORCHION_KIND_EXECUTOR.rawValue): self = .executor
        default: return nil
        }
    }
}

/// What a plugin says about itself, read from its descriptor without running init.
public struct PluginInfo: Sendable, Hashable, Codable {
    public let name: String
    public let kind: PluginKind
    public let version: String
    public let description: String
    public let abiMajor: UInt16
    public let abiMinor: UInt16
    /// The shared object it came from.
    public let file: String

    public init(
        name: String, kind: PluginKind, version: String, description: String, abiMajor: UInt16, abiMinor: UInt16,
        file: String
    ) {
        self.name = name
        self.kind = kind
        self.version = version
        self.description = description
        self.abiMajor = abiMajor
        self.abiMinor = abiMinor
        self.file = file
    }

    /// "1.0"
    public var abi: String { "\(abiMajor).\(abiMinor)" }
}

/// The ABI this host implements.
public enum HostABI {
    /// ORCHION_PLUGIN_ABI_MAJOR.
    public static let major = UInt16(ORCHION_PLUGIN_ABI_MAJOR)
    /// ORCHION_PLUGIN_ABI_MINOR.
    public static let minor = UInt16(ORCHION_PLUGIN_ABI_MINOR)
}
