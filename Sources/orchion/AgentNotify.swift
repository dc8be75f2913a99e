import OrchionAgent
import OrchionAgentDaemon

/// The service manager's socket, when systemd runs the agent
/// (`NOTIFY_SOCKET`), as the daemon's notifier.
func systemdNotifier() -> ServiceNotifier? {
    guard let socket = NotifySocket.fromEnvironment() else { return nil }
    let watchdog = socket.watchdogInterval.map { interval -> UInt64 in
        let (seconds, attoseconds) = interval.components
        return UInt64(max(seconds, 0)) * 1000 + UInt64(max(attoseconds, 0) / 1_000_000_000_000_000)
    }
    return ServiceNotifier(send: { socket.send($0) }, watchdogMillis: watchdog)
}
