import OrchionLoop

/// Keeps a `SchedulingService`'s strategies in step with a `PluginRegistry`:
/// every scheduler plugin the registry admits is installed under its name
/// (at start with `installAll`, and as `PluginWatcher` hot-loads a dropped
/// `.so`: `admitted`), and one whose file is removed is removed (`removed`;
/// a replaced file is removed, then its replacement admitted). `plugins`
/// lists the registry's files with the service's quarantine state, shaped
/// like `orchion.v1.Plugin`.
///
/// Wire it as:
///
///     let watcher = PluginWatcher(loop: loop, registry: registry, directories: dirs) { catalog.admitted($0) }
///     watcher.onRemoved = { catalog.removed($0) }
///     try watcher.start()
///     watcher.rescan()  // the plugins already there, opened off the loop thread
///
/// (`installAll()` serves a registry filled otherwise, e.g. by a `scan`.)
///
/// Threading: loop thread only (the loop passed in); installs run on the
/// service's scheduler thread and report back here.
public final class StrategyCatalog {
    private let registry: PluginRegistry
    private let service: SchedulingService
    private let loop: EventLoop
    private let configuration: (String) -> [String: String]
    private let sink: @Sendable (String, PluginEvent) -> Void
    /// Plugins whose init failed when installed, with the error.
    private var initFailures: [String: String] = [:]
    /// Installs started and not yet answered, by name, with the file.
    private var installing: [String: String] = [:]
    /// Runs on the loop thread when an install finished: the plugin's name and the outcome.
    public var onInstalled: ((String, Result<Void, PluginError>) -> Void)?

    /// A catalog over `registry` installing into `service`; `configuration`
    /// gives each plugin its config by name, `sink` receives its events (on
    /// the scheduler thread).
    public init(
        registry: PluginRegistry, service: SchedulingService, loop: EventLoop,
        configuration: @escaping (String) -> [String: String] = { _ in [:] },
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }
    ) {
        self.registry = registry
        self.service = service
        self.loop = loop
        self.configuration = configuration
        self.sink = sink
    }

    /// Installs every loaded scheduler plugin of the registry (after a scan at start).
    public func installAll() {
        for entry in registry.entries { admitted(entry) }
    }

    /// Installs `entry`'s plugin when it is a loaded scheduler (what
    /// `PluginWatcher`'s `onChange` hands over); anything else is ignored.
    public func admitted(_ entry: PluginEntry) {
        guard entry.state == .loaded, let info = entry.info, info.kind == .scheduler,
            let library = registry.library(named: info.name), library.info.file == entry.file
        else { return }
        let name = info.name
        installing[name] = entry.file
        let catalog = LoopBound(self, loop: loop)
        service.install(library, config: configuration(name), sink: sink, completingOn: loop) { outcome in
            catalog.wrapped.installed(name, file: entry.file, outcome)
        }
    }

    /// On the loop thread: records how an install ended.
    private func installed(_ name: String, file: String, _ outcome: Result<Void, PluginError>) {
        if installing[name] == file { installing[name] = nil }
        switch outcome {
        case .success: initFailures[name] = nil
        case .failure(let error): initFailures[name] = error.description
        }
        onInstalled?(name, outcome)
    }

    /// Removes the strategy `entry`'s file provided, if that file was the
    /// one installed (what `PluginWatcher.onRemoved` hands over).
    public func removed(_ entry: PluginEntry) {
        guard let info = entry.info, info.kind == .scheduler else { return }
        if entry.state == .loaded { initFailures[info.name] = nil }
        let installed = service.strategies().first { $0.name == info.name }
        guard installed?.plugin.file == entry.file || installing[info.name] == entry.file else { return }
        installing[info.name] = nil
        service.remove(strategy: info.name)
    }

    /// Every plugin file the registry has seen, each with its state: a
    /// loaded scheduler the service quarantined shows quarantined, one
    /// whose init failed shows refused. `defaultStrategy` is marked
    /// `isDefault`.
    public func plugins(defaultStrategy: String?) -> [PluginListing] {
        let strategies = Dictionary(service.strategies().map { ($0.name, $0) }) { first, _ in first }
        return registry.entries.map { entry in
            let info = entry.info
            var state = PluginListing.State(entry.state)
            var reason = entry.state.reason
            if entry.state == .loaded, let name = info?.name, info?.kind == .scheduler {
                if let failure = initFailures[name] {
                    (state, reason) = (.refused, failure)
                } else if let quarantined = strategies[name]?.state.reason {
                    (state, reason) = (.quarantined, quarantined)
                }
            }
            return PluginListing(
                name: info?.name ?? "", kind: info?.kind, version: info?.version ?? "", abi: info?.abi ?? "",
                description: info?.description ?? "", file: entry.file, state: state, reason: reason ?? "",
                isDefault: info != nil && info?.kind == .scheduler && info?.name == defaultStrategy)
        }
    }
}

/// One plugin as `ListPlugins` and `/v1/plugins` report it: the fields of
/// `orchion.v1.Plugin`, for the server to map.
///
/// Threading: a value; safe anywhere.
public struct PluginListing: Sendable, Hashable {
    /// `orchion.v1.PluginState`.
    public enum State: String, Sendable, Hashable {
        case loaded, refused, quarantined

        init(_ state: PluginState) {
            switch state {
            case .loaded: self = .loaded
            case .refused: self = .refused
            case .quarantined: self = .quarantined
            }
        }
    }

    /// The descriptor's name; empty when the file could not be read.
    public let name: String
    /// Scheduler or executor; nil when the file could not be read.
    public let kind: PluginKind?
    public let version: String
    /// "major.minor".
    public let abi: String
    public let description: String
    /// The shared object it came from.
    public let file: String
    public let state: State
    /// Why it is refused or quarantined; empty when loaded.
    public let reason: String
    /// The strategy jobs get when they name none.
    public let isDefault: Bool

    public init(
        name: String, kind: PluginKind?, version: String, abi: String, description: String, file: String,
        state: State, reason: String, isDefault: Bool
    ) {
        self.name = name
        self.kind = kind
        self.version = version
        self.abi = abi
        self.description = description
        self.file = file
        self.state = state
        self.reason = reason
        self.isDefault = isDefault
    }
}
