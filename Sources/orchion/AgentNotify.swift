import OrchionAgentDaemon

// The agent's sd_notify hook: `NotifySocket` (Sources/OrchionAgent/Systemd,
// branch agentsys) when systemd set NOTIFY_SOCKET. Until that type is on
// main this file cannot name it: at merge, delete the `#if` / `#else` …
// `#endif` lines so the first branch is the code.
#if ORCHION_NOTIFY_SOCKET
    import OrchionAgent

    /// The service manager's socket, when systemd runs the agent.
    func systemdNotifier() -> ServiceNotifier? {
        guard let socket = NotifySocket.fromEnvironment() else { return nil }
        let watchdog = socket.watchdogInterval.map { interval -> UInt64 in
            let (seconds, attoseconds) = interval.components
            return UInt64(max(seconds, 0)) * 1000 + UInt64(max(attoseconds, 0) / 1_000_000_000_000_000)
        }
        return ServiceNotifier(send: { socket.send($0) }, watchdogMillis: watchdog)
    }
#else
    /// No sd_notify until `NotifySocket` is merged (see above).
    func systemdNotifier() -> ServiceNotifier? { nil }
#endif
