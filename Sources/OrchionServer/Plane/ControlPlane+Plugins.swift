import OrchionPluginHost
import OrchionProto
import OrchionWire

extension ControlPlane {
    /// Strategies jobs may name: the installed ones and the built-in fallback.
    var strategyNames: Set<String> {
        Set(scheduling.strategies().map(\.name)).union([settings.fallbackStrategy])
    }

    func pluginList() -> Orchion_V1_ListPluginsResponse {
        let listings = catalog?.plugins(defaultStrategy: settings.defaultStrategy) ?? []
        return .with { $0.plugins = listings.map(\.proto) }
    }

    func schedulerSettings() -> Orchion_V1_SchedulerSettings {
        let ready = scheduling.strategies().filter { $0.state == .ready }.map(\.name)
        return .with {
            $0.defaultStrategy = settings.defaultStrategy
            $0.strategies = Set(ready).union([settings.fallbackStrategy]).sorted()
        }
    }

    /// Makes `name` the strategy of jobs that name none, until the next
    /// restart or SIGHUP (which apply the configuration's choice again).
    func setDefaultStrategy(_ name: String) throws(RPCError) -> Orchion_V1_SchedulerSettings {
        let statuses = scheduling.strategies()
        if let status = statuses.first(where: { $0.name == name }), case .quarantined(let why) = status.state {
            throw RPCError(.failedPrecondition, "strategy \(name) is quarantined: \(why)")
        }
        guard strategyNames.contains(name) else {
            let known = strategyNames.sorted().joined(separator: ", ")
            throw RPCError(.invalidArgument, "unknown strategy '\(name)'; known: \(known)")
        }
        if settings.defaultStrategy != name {
            ServerLog.info("default strategy: \(settings.defaultStrategy) → \(name)")
            settings.defaultStrategy = name
            wakeAllParkedJobs()
        }
        return schedulerSettings()
    }
}

extension PluginListing {
    var proto: Orchion_V1_Plugin {
        .with {
            $0.name = name
            switch kind {
            case .scheduler?: $0.kind = .scheduler
            case .executor?: $0.kind = .executor
            case nil: $0.kind = .unspecified
            }
            $0.version = version
            $0.abi = abi
            $0.description_p = description
            $0.file = file
            switch state {
            case .loaded: $0.state = .loaded
            case .refused: $0.state = .refused
            case .quarantined: $0.state = .quarantined
            }
            $0.reason = reason
            $0.isDefault = isDefault
        }
    }
}
