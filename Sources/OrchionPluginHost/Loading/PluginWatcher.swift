import OrchionLoop

/// Loads plugins dropped into watched directories without a restart, and
/// reports those removed or replaced (`onRemoved`).
///
/// Each existing directory gets an inotify watch. Changes are debounced
/// (a copy arrives in many writes), then new or changed candidates are opened
/// on libuv's thread pool — `dlopen` of a large file must not stall the loop —
/// and admitted to the registry back on the loop thread. Install a plugin
/// atomically (copy to a dot-file, then rename) to avoid a half-written file
/// being refused first; a refused file is retried when it changes again.
///
/// Threading: loop thread only.
public final class PluginWatcher {
    private let loop: EventLoop
    private let registry: PluginRegistry
    private let directories: [PluginDirectory]
    private let onChange: (PluginEntry) -> Void
    private var watchers: [FileWatcher] = []
    private var debounce: Timer?
    private var loading = false
    private var rescanRequested = false
    /// Quiet time after the last change before rescanning, in milliseconds.
    public var debounceMillis: UInt64 = 100
    /// Whether files dropped in later are loaded. When false, `start` watches
    /// nothing and only an explicit `rescan` loads anything.
    public let hotLoad: Bool
    /// When set, each new file is first opened in a child process
    /// (`orchion plugin probe`) and only one the child loaded cleanly is
    /// opened here: constructors that exit, crash or hang are refused
    /// without touching this process. It costs one process start per new
    /// file, and cannot vouch for code that misbehaves only later.
    public var probe: PluginProbe?

    /// Runs on the loop thread for every file seen before that was removed,
    /// and every loaded (or mapped and refused) file that was replaced, with
    /// the entry it had, before a replacement is admitted (through `onChange`).
    public var onRemoved: ((PluginEntry) -> Void)?

    /// Creates a watcher; `onChange` runs on the loop thread for every file
    /// admitted. `hotLoad: false` turns hot-loading off.
    public init(
        loop: EventLoop, registry: PluginRegistry, directories: [PluginDirectory], hotLoad: Bool = true,
        onChange: @escaping (PluginEntry) -> Void
    ) {
        self.hotLoad = hotLoad
        self.loop = loop
        self.registry = registry
        self.directories = directories
        self.onChange = onChange
    }

    /// Starts watching every directory that exists now. Returns the paths
    /// watched: none when hot-loading is off.
    @discardableResult
    public func start() throws(LoopError) -> [String] {
        guard hotLoad else { return [] }
        debounce = try Timer(loop: loop)
        var watched: [String] = []
        for directory in directories {
            let watcher = try FileWatcher(loop: loop)
            do {
                try watcher.start(path: directory.path) { [weak self] name in
                    guard let self, name.map(directory.isCandidate) ?? true else { return }
                    self.changed()
                }
                watchers.append(watcher)
                watched.append(directory.path)
            } catch {
                watcher.close()  // a missing directory is not an error
            }
        }
        return watched
    }

    private func changed() {
        debounce?.start(after: debounceMillis) { [weak self] in self?.rescan() }
    }

    /// Lists, checks and opens new candidates on the thread pool (no disk
    /// access on the loop) and admits them in order back on the loop.
    public func rescan() {
        guard !loading else {
            rescanRequested = true
            return
        }
        loading = true
        let directories = self.directories
        let known = registry.known
        let probe = self.probe
        loop.queueWork(
            {
                let departed = PluginRegistry.departed(known: known)
                let remaining = PluginRegistry.forgetting(departed, in: known)
                let opened = PluginRegistry.candidates(in: directories, known: remaining).map {
                    candidate -> (PluginRegistry.Candidate, Result<PluginLibrary, PluginError>) in
                    if let probe, case .failure(let error) = probe.probe(candidate.file) {
                        return (candidate, .failure(error))
                    }
                    return (candidate, Result { () throws(PluginError) in try PluginLibrary.open(candidate.file) })
                }
                return (departed, opened)
            },
            then: { [weak self] found in
                guard let self else { return }
                let (departed, outcomes) = found
                for file in departed {
                    if let entry = registry.forget(file) { onRemoved?(entry) }
                }
                for (candidate, outcome) in outcomes { onChange(registry.admit(candidate, outcome)) }
                loading = false
                if rescanRequested {
                    rescanRequested = false
                    rescan()
                }
            })
    }

    /// Stops watching and closes every handle.
    public func close() {
        for watcher in watchers { watcher.close() }
        watchers = []
        debounce?.close()
        debounce = nil
    }
}
