import OrchionControl
import OrchionDashboard
import OrchionLoop
import OrchionPluginHost
import OrchionWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `orchion server`: opens the state store, loads the strategy plugins,
/// rebuilds the control plane from what was stored, and serves the API and
/// the agent protocol on one port until SIGTERM or SIGINT. SIGHUP re-reads
/// the configuration and applies what may change at runtime. An embedder
/// (`orchion up`) passes `ServerHooks` to learn the address and to decide
/// when a signal stops the server.
///
/// Threading: `run` takes the calling thread for the event loop.
public enum ControlPlaneServer {
    /// Serves `config` until told to stop; returns the exit status.
    public static func run(_ config: ServerConfig, hooks: ServerHooks? = nil) throws -> Int32 {
        for warning in config.warnings { ServerLog.warning(warning) }
        raiseOpenFileLimit(toServe: config.wire.maxConnections)
        let tokens = try ServerTokens.load(config)
        for note in tokens.notes { ServerLog.info(note) }
        // The user's plugin directory is made when missing (owner-only), so a
        // plugin dropped there later is watched and loaded like any other.
        for directory in config.pluginDirectories where directory.source == .user {
            do throws(StoreError) {
                try StoreFiles.makeDirectories(directory.path)
            } catch {
                ServerLog.warning("plugins in \(directory.path) are not watched: \(error)")
            }
        }
        let policy = try TLSPolicy.decide(listen: config.listen, tls: config.tls).get()
        // Before the loop runs: key generation and file writes block.
        let certificate: ServerCertificate? = policy == .plaintext ? nil : try ServerTLS.prepare(config)
        for note in certificate?.notes ?? [] { ServerLog.info("TLS: \(note)") }
        var options = StoreOptions()
        options.eventRetention = config.eventRetention
        let (store, stored) = try StateStore.open(directory: config.stateDirectory, options: options)
        ServerLog.info("state in \(store.path)")
        let scheduling = try SchedulingService(
            budget: config.scheduler.pluginBudget, hangLimit: config.scheduler.hangLimit,
            failureLimit: config.scheduler.failureLimit)
        let loop = try EventLoop()
        let status = Atomic<Int32>(0)
        let started = loop.execute {
            do {
                try start(
                    config, loop: loop, store: store, stored: stored, scheduling: scheduling, tokens: tokens,
                    policy: policy, certificate: certificate, hooks: hooks,
                    setStatus: { status.store($0, ordering: .relaxed) })
            } catch {
                ServerLog.error("could not start: \(error)")
                status.store(1, ordering: .relaxed)
                loop.stop()
            }
        }
        guard started else { return 1 }
        loop.run()
        scheduling.shutdown()
        store.close()
        return status.load(ordering: .relaxed)
    }

    private static func start(
        _ config: ServerConfig, loop: EventLoop, store: StateStore, stored: StoredState,
        scheduling: SchedulingService, tokens: ServerTokens, policy: TLSPolicy, certificate: ServerCertificate?,
        hooks: ServerHooks?,
        setStatus: @escaping @Sendable (Int32) -> Void
    ) throws {
        var settings = PlaneSettings()
        settings.heartbeat = config.heartbeat
        settings.batchSize = config.scheduler.batchSize
        settings.eventRetention = config.eventRetention
        settings.defaultStrategy = config.scheduler.defaultStrategy
        let metrics = try ServerMetrics()
        let plane = try ControlPlane(
            loop: loop, settings: settings, store: store, stored: stored, scheduling: scheduling, metrics: metrics)
        let bound = LoopBound(plane, loop: loop)

        let registry = PluginRegistry()
        let catalog = StrategyCatalog(registry: registry, service: scheduling, loop: loop)
        catalog.onInstalled = { name, outcome in
            switch outcome {
            case .success:
                ServerLog.info("strategy \(name) ready")
                bound.wrapped.wakeAllParkedJobs()
            case .failure(let error):
                ServerLog.error("strategy \(name) refused: \(error)")
            }
        }
        plane.catalog = catalog
        plane.logs = try LogStore(
            loop: loop, directory: config.logs.directory,
            limits: LogLimits(
                maxBytesPerAttempt: UInt64(clamping: config.logs.maxBytesPerAttempt),
                retentionAge: config.logs.retentionAge, retentionBytes: UInt64(clamping: config.logs.retentionBytes)),
            metrics: metrics, isFinished: { bound.wrapped.jobs[$0]?.state.isTerminal ?? true },
            onError: { ServerLog.error("job logs: \($0)") })
        let watcher = PluginWatcher(
            loop: loop, registry: registry, directories: config.pluginDirectories, hotLoad: config.hotLoadPlugins
        ) { entry in
            if let reason = entry.state.reason { ServerLog.warning("plugin \(entry.file) refused: \(reason)") }
            catalog.admitted(entry)
        }
        watcher.onRemoved = { catalog.removed($0) }
        watcher.probe = PluginProbe()
        let watched = try watcher.start()
        watcher.rescan()
        ServerLog.info(
            "plugins from \(config.pluginDirectories.map(\.path).joined(separator: ", "))"
                + (watched.isEmpty ? " (not watched)" : " (watched for new files)"))

        try plane.startHealthChecks()
        let hangCheck = try Timer(loop: loop)
        hangCheck.start(after: 1000, repeat: 1000) { _ = scheduling.checkForHang() }

        let authenticator = tokens.authenticator
        bound.wrapped.useAuthenticator(authenticator)
        let clientTokens = ClientTokens(
            path: config.tokens.clientTokensFile, authenticator: authenticator, joinSecret: tokens.join.secret)
        var serverTLS: ServerTLS?
        var wireTLS: WireTLS?
        if case .tls(let plaintextBeyondLoopback) = policy, let certificate {
            let tls = try ServerTLS.start(loop: loop, config: config, certificate: certificate)
            serverTLS = tls
            wireTLS = tls.wireSettings(policy: plaintextBeyondLoopback)
        }
        let server = try APIServer.start(
            loop: loop, address: config.listen, limits: config.wire, tls: wireTLS,
            authenticator: authenticator,
            control: ControlAPI(plane: bound, tokens: clientTokens), agent: AgentAPI(plane: bound),
            metrics: { metrics.registry.renderBytes() }, metricsRequireToken: config.metricsRequireToken,
            site: DashboardSite())
        ServerLog.info("listening on \(server.address)")
        clientTokens.setJoinCommand(
            JoinCommand(listening: server.address, caHash: serverTLS?.summary.caHash?.description))
        // What the wire refused, for /metrics: an attack or a misconfigured
        // client shows there (the scrape is answered on the loop thread).
        let wire = LoopBound(server, loop: loop)
        let refusals: [(String, String, @Sendable () -> Double?)] = [
            ("orchion_tls_handshakes_total", "TLS handshakes completed.", { Double(wire.wrapped.tlsHandshakes) }),
            (
                "orchion_tls_handshake_failures_total", "TLS handshakes that failed or timed out.",
                { Double(wire.wrapped.tlsHandshakeFailures) }
            ),
            (
                "orchion_plaintext_refused_total", "Plaintext connections refused from peers beyond loopback.",
                { Double(wire.wrapped.plaintextRefused) }
            ),
            (
                "orchion_connections_refused_total", "Connections refused at the server's or one peer's limit.",
                { Double(wire.wrapped.refusedConnections) }
            ),
        ]
        for (name, help, read) in refusals { try metrics.registry.counter(name, help: help, read: read) }
        if let serverTLS {
            let summary = serverTLS.summary
            ServerLog.info(
                "TLS on: CA hash \(summary.caHash?.description ?? "unknown (bring-your-own certificate without its CA)")"
                    + (summary.caFile.map { ", CA certificate \($0)" } ?? "")
                    + (policy == .tls(plaintextBeyondLoopback: true)
                        ? "; plaintext served to every peer" : "; plaintext served to loopback peers only"))
        }

        var current = config
        let reload = try SignalWatcher(loop: loop)
        try reload.start(SIGHUP) { _ in
            // The file is read on the thread pool, never on the loop.
            let previous = current
            loop.queueWork({ previous.reload() }) { result in
                switch result {
                case .success(let next):
                    for change in next.changes(from: current) { ServerLog.info("config: \(change)") }
                    current = next
                    do throws(RPCError) {
                        _ = try bound.wrapped.setDefaultStrategy(next.scheduler.defaultStrategy)
                    } catch {
                        ServerLog.error("config: default strategy kept: \(error.message)")
                    }
                case .failure(let error):
                    ServerLog.error("config not reloaded: \(error)")
                }
            }
        }
        let terminate = try SignalWatcher(loop: loop)
        let interrupt = try SignalWatcher(loop: loop)
        var stopped = false
        let stop: (String) -> Void = { why in
            guard !stopped else { return }
            stopped = true
            ServerLog.info("stopping (\(why))")
            server.close()
            serverTLS?.close()
            watcher.close()
            hangCheck.close()
            for handle in [reload, terminate, interrupt] { handle.close() }
            bound.wrapped.shutdown()
        }
        let stopOnLoop = LoopBound(stop, loop: loop)
        let onSignal: (Int32) -> Void = { signal in
            guard let hooks else { return stop("signal \(signal)") }
            hooks.stopping(signal) { stopOnLoop.wrapped("signal \(signal)") }
        }
        try terminate.start(SIGTERM, onSignal)
        try interrupt.start(SIGINT, onSignal)
        hooks?.started(
            RunningServer(
                loop: loop, address: server.address, tokens: tokens, tls: serverTLS?.summary,
                stop: { code in
                    setStatus(code)
                    stopOnLoop.wrapped(code == 0 ? "asked" : "exit status \(code)")
                }))
    }

    /// Every agent holds a connection: raises the soft limit on open files
    /// (often 1,024) toward the hard one, so `maxConnections` agents fit, as
    /// Go's runtime does for every server. Says what it found and did.
    private static func raiseOpenFileLimit(toServe connections: Int) {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return }
        // Connections, plus the store, logs, plugins, watches and pipes.
        let wanted = rlim_t(clamping: connections).addingReportingOverflow(256)
        let target = min(wanted.overflow ? limit.rlim_max : wanted.partialValue, limit.rlim_max)
        guard target > limit.rlim_cur else { return }
        let found = limit.rlim_cur
        limit.rlim_cur = target
        if setrlimit(resource, &limit) == 0 {
            ServerLog.info("open files: soft limit raised from \(found) to \(target)")
        } else {
            ServerLog.warning("open files: the soft limit stays \(found) (about that many agents at most)")
        }
    }
}
