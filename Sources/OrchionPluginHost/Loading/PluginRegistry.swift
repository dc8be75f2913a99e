import Glibc

/// Where a plugin file stands.
public enum PluginState: Sendable, Hashable {
    /// Opened and validated; usable.
    case loaded
    /// Refused; the message says why.
    case refused(PluginError)
    /// Loaded but taken out of service after repeated failures.
    case quarantined(String)

    /// "loaded", "refused", "quarantined".
    public var label: String {
        switch self {
        case .loaded: "loaded"
        case .refused: "refused"
        case .quarantined: "quarantined"
        }
    }

    /// Why it is refused or quarantined.
    public var reason: String? {
        switch self {
        case .loaded: nil
        case .refused(let error): error.description
        case .quarantined(let reason): reason
        }
    }
}

/// One plugin file and what became of it.
public struct PluginEntry: Sendable, Hashable {
    public let file: String
    /// The descriptor, when it could be read.
    public let info: PluginInfo?
    public var state: PluginState

    public init(file: String, info: PluginInfo?, state: PluginState) {
        self.file = file
        self.info = info
        self.state = state
    }
}

/// Every plugin file the host has seen, and the loaded plugins by name.
///
/// Names are unique: the first file to claim a name keeps it and later ones
/// are refused as duplicates. Threading: one thread (the loop) at a time.
public final class PluginRegistry {
    /// Every file seen, in discovery order.
    public private(set) var entries: [PluginEntry] = []
    private var libraries: [String: PluginLibrary] = [:]
    private var seen: [String: FileIdentity] = [:]

    public init() {}

    /// The loaded plugin called `name`.
    public func library(named name: String) -> PluginLibrary? { libraries[name] }

    /// Opens every candidate in `directories` that is new or changed, in order.
    /// Blocking: for command-line use or from the thread pool's results.
    @discardableResult
    public func scan(_ directories: [PluginDirectory]) -> [PluginEntry] {
        candidates(in: directories).map { file in
            admit(file: file, Result { () throws(PluginError) in try PluginLibrary.open(file) })
        }
    }

    /// Files in `directories` not seen yet, or changed since they were refused.
    /// A loaded file is never reopened: replacing a loaded plugin needs a restart.
    public func candidates(in directories: [PluginDirectory]) -> [String] {
        directories.flatMap { $0.candidates() }.filter { file in
            guard let identity = FileIdentity(file) else { return false }
            guard let previous = seen[file] else { return true }
            let loaded = entries.last { $0.file == file }?.state == .loaded
            return !loaded && previous != identity
        }
    }

    /// Records the outcome of opening `file`, refusing a duplicate name.
    @discardableResult
    public func admit(file: String, _ outcome: Result<PluginLibrary, PluginError>) -> PluginEntry {
        seen[file] = FileIdentity(file)
        entries.removeAll { $0.file == file }
        let entry: PluginEntry
        switch outcome {
        case .failure(let error):
            entry = PluginEntry(file: file, info: nil, state: .refused(error))
        case .success(let library):
            if let existing = libraries[library.info.name] {
                let error = PluginError.duplicateName(
                    file: file, name: library.info.name, loadedFrom: existing.info.file)
                entry = PluginEntry(file: file, info: library.info, state: .refused(error))
            } else {
                libraries[library.info.name] = library
                entry = PluginEntry(file: file, info: library.info, state: .loaded)
            }
        }
        entries.append(entry)
        return entry
    }

    /// Marks plugin `name` quarantined (it stays loaded but unused).
    public func quarantine(_ name: String, reason: String) {
        for index in entries.indices where entries[index].info?.name == name && entries[index].state == .loaded {
            entries[index].state = .quarantined(reason)
        }
    }
}

/// What identifies a file's contents cheaply: inode, size and change time.
struct FileIdentity: Hashable {
    let inode: UInt64
    let size: Int64
    let changed: Int64

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }
}
