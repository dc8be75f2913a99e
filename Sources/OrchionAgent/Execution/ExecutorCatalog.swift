import OrchionPluginHost
import Synchronization

/// The executor plugins jobs may name, each an `ExecutorService` (its own
/// thread): the built-in `exec` and any third-party executor `.so` found in
/// the plugin directories. A job's `executor` field picks one; none picks
/// `exec`.
///
/// Threading: every method may be called from any thread.
public final class ExecutorCatalog: Sendable {
    /// The executor of a job that names none.
    public static let defaultName = "exec"
    private let services: Mutex<[String: ExecutorService]>

    /// A catalog of `services`; the first of a name wins.
    public init(_ services: [ExecutorService] = []) {
        var byName: [String: ExecutorService] = [:]
        for service in services where byName[service.info.name] == nil { byName[service.info.name] = service }
        self.services = Mutex(byName)
    }

    /// Starts an instance of each executor among `libraries` (schedulers are
    /// skipped), with its config from `config[name]`. Returns the catalog
    /// and the executors whose `init` failed.
    public static func load(
        _ libraries: [PluginLibrary], config: [String: [String: String]] = [:],
        sink: @escaping @Sendable (String, PluginEvent) -> Void = { _, _ in }
    ) async -> (ExecutorCatalog, [PluginError]) {
        var services: [ExecutorService] = []
        var failures: [PluginError] = []
        for library in libraries where library.info.kind == .executor {
            do {
                services.append(
                    try await ExecutorService(library, config: config[library.info.name] ?? [:], sink: sink))
            } catch {
                failures.append(error)
            }
        }
        return (ExecutorCatalog(services), failures)
    }

    /// Adds an executor (one hot-loaded from the plugin directory); false
    /// when one of that name is already there.
    @discardableResult
    public func add(_ service: ExecutorService) -> Bool {
        services.withLock { services in
            guard services[service.info.name] == nil else { return false }
            services[service.info.name] = service
            return true
        }
    }

    /// The names available, sorted.
    public var names: [String] { services.withLock { $0.keys.sorted() } }

    /// The executor called `name` (nil: `defaultName`).
    public func executor(named name: String?) throws(JobRunnerError) -> ExecutorService {
        let name = name ?? Self.defaultName
        let found = services.withLock { $0[name] }
        guard let found else { throw .unknownExecutor(name, known: names) }
        return found
    }

    /// Shuts every executor down (their `destroy` runs on their threads).
    public func shutdown() {
        for service in services.withLock({ Array($0.values) }) { service.shutdown() }
    }
}
