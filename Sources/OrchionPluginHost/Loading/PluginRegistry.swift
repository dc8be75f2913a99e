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
    private(set) var known = Known()

    public init() {}

    /// The loaded plugin called `name`.
    public func library(named name: String) -> PluginLibrary? { libraries[name] }

    /// Opens every candidate in `directories` that is new or changed, in order.
    /// Blocking: for command-line use; a running host uses `PluginWatcher`.
    @discardableResult
    public func scan(_ directories: [PluginDirectory]) -> [PluginEntry] {
        Self.candidates(in: directories, known: known).map { candidate in
            if let refusal = candidate.refusal { return admit(candidate, .failure(refusal)) }
            return admit(candidate, Result { () throws(PluginError) in try PluginLibrary.open(candidate.file) })
        }
    }

    /// Lists every candidate in `directories` like `scan`, but learns what
    /// each file is from `probe` (e.g. a child process that opens it, so a
    /// plugin that exits or crashes while loading costs only the child).
    /// Duplicate names are refused as in `scan`. Blocking: for command-line use.
    @discardableResult
    public func probe(
        _ directories: [PluginDirectory], using probe: (String) -> Result<PluginInfo, PluginError>
    ) -> [PluginEntry] {
        probeAll(directories) { files in files.map(probe) }
    }

    /// Like `probe(_:using:)`, but `probeAll` learns about every candidate
    /// at once and answers in their order (so it may probe several at a
    /// time, e.g. `PluginProbe.probeAll`); entries keep the sorted order.
    @discardableResult
    public func probeAll(
        _ directories: [PluginDirectory], using probeAll: ([String]) -> [Result<PluginInfo, PluginError>]
    ) -> [PluginEntry] {
        let candidates = Self.candidates(in: directories, known: known)
        var answers = probeAll(candidates.filter { $0.refusal == nil }.map(\.file))[...]
        return candidates.map { candidate in
            let file = candidate.file
            let result: Result<PluginInfo, PluginError> =
                candidate.refusal.map { .failure($0) }
                ?? answers.popFirst() ?? .failure(.probeFailed(file: file, reason: "not probed"))
            known.seen[file] = candidate.identity
            entries.removeAll { $0.file == file }
            let entry: PluginEntry
            switch result {
            case .failure(let error):
                entry = PluginEntry(file: file, info: nil, state: .refused(error))
            case .success(let info):
                if let first = probedNames[info.name] {
                    entry = PluginEntry(
                        file: file, info: info,
                        state: .refused(.duplicateName(file: file, name: info.name, loadedFrom: first)))
                } else {
                    probedNames[info.name] = file
                    entry = PluginEntry(file: file, info: info, state: .loaded)
                }
            }
            known.settled.insert(file)
            entries.append(entry)
            return entry
        }
    }

    /// Names seen by `probe`, and the file that claimed each first.
    private var probedNames: [String: String] = [:]

    /// What the registry knows about files: all that finding candidates needs,
    /// so that can run on another thread.
    struct Known: Sendable {
        /// Each file's identity when it was last opened.
        var seen: [String: FileIdentity] = [:]
        /// Files never reopened: loaded (or quarantined) plugins, and refused
        /// files that `dlopen` already mapped (see `PluginError.leftImageMapped`).
        var settled: Set<String> = []
    }

    /// A file to open and its identity when it was found.
    struct Candidate: Sendable {
        let file: String
        let identity: FileIdentity
        /// Why it is refused without being opened (a name that is not UTF-8).
        var refusal: PluginError?
    }

    /// Files in `directories` not seen yet, or changed since they were refused
    /// before being mapped (e.g. a half-copied file). Settled files are not
    /// reopened until they are forgotten (`departed`, `forget`).
    /// Reads the disk, so a running host calls it on the thread pool.
    static func candidates(in directories: [PluginDirectory], known: Known) -> [Candidate] {
        directories.flatMap { directory in
            let files = directory.candidates().compactMap { file -> Candidate? in
                guard !known.settled.contains(file), let identity = FileIdentity(file), known.seen[file] != identity
                else { return nil }
                return Candidate(file: file, identity: identity)
            }
            // Listed once, refused: a String cannot name such a file to open it.
            let undecodable = directory.undecodableCandidates().compactMap { file -> Candidate? in
                guard known.seen[file] == nil else { return nil }
                return Candidate(
                    file: file, identity: FileIdentity(inode: 0, size: 0, changed: 0),
                    refusal: .unreadable(file: file, reason: "its name is not UTF-8 (shown escaped); rename it"))
            }
            return files + undecodable
        }
    }

    /// Files seen before that are gone, and settled files that changed since
    /// they were opened (a plugin replaced by renaming a new file over it).
    /// Reads the disk, so a running host calls it on the thread pool.
    static func departed(known: Known) -> [String] {
        known.seen.keys.sorted().filter { file in
            // An undecodable name is listed, never opened: it has no identity to compare.
            guard let identity = known.seen[file], identity.inode != 0 else { return false }
            let now = FileIdentity(file)
            return known.settled.contains(file) ? now != identity : now == nil
        }
    }

    /// What `known` becomes once `files` are forgotten.
    static func forgetting(_ files: [String], in known: Known) -> Known {
        var remaining = known
        for file in files {
            remaining.seen[file] = nil
            remaining.settled.remove(file)
        }
        return remaining
    }

    /// Forgets `file`, gone or replaced: its entry, and the name it
    /// claimed, so a replacement may claim that name. Its image stays
    /// mapped (the host never unloads a plugin). Returns the entry it had.
    @discardableResult
    public func forget(_ file: String) -> PluginEntry? {
        known = Self.forgetting([file], in: known)
        guard let index = entries.firstIndex(where: { $0.file == file }) else { return nil }
        let entry = entries.remove(at: index)
        if let name = entry.info?.name, libraries[name]?.info.file == file { libraries[name] = nil }
        if let name = entry.info?.name, probedNames[name] == file { probedNames[name] = nil }
        return entry
    }

    /// Records the outcome of opening a candidate, refusing a duplicate name.
    @discardableResult
    func admit(_ candidate: Candidate, _ outcome: Result<PluginLibrary, PluginError>) -> PluginEntry {
        let file = candidate.file
        known.seen[file] = candidate.identity
        entries.removeAll { $0.file == file }
        let entry: PluginEntry
        switch outcome {
        case .failure(let error):
            if error.leftImageMapped { known.settled.insert(file) }
            entry = PluginEntry(file: file, info: nil, state: .refused(error))
        case .success(let library):
            if let existing = libraries[library.info.name] {
                let error = PluginError.duplicateName(
                    file: file, name: library.info.name, loadedFrom: existing.info.file)
                known.settled.insert(file)
                entry = PluginEntry(file: file, info: library.info, state: .refused(error))
            } else {
                libraries[library.info.name] = library
                known.settled.insert(file)
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
struct FileIdentity: Hashable, Sendable {
    let inode: UInt64
    let size: Int64
    let changed: Int64

    init(inode: UInt64, size: Int64, changed: Int64) {
        self.inode = inode
        self.size = size
        self.changed = changed
    }

    /// The identity of what `path` names, or of the link itself when it
    /// cannot be followed (a loop, a dangling link), so such a file is still
    /// listed and refused rather than skipped.
    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 || lstat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }
}
