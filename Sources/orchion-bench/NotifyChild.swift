import Glibc
import OrchionAgent

/// `orchion-bench notify STATE...`: the process the systemd tests start with
/// `NOTIFY_SOCKET` (and perhaps `WATCHDOG_USEC`/`WATCHDOG_PID`) in its
/// environment. Sends each STATE as one datagram through
/// `NotifySocket.fromEnvironment()`, prints the watchdog interval it found
/// and how many sends failed; exits 3 when the environment names no socket.
func notifyChild(_ states: [String]) -> Never {
    guard let notifier = NotifySocket.fromEnvironment() else {
        standardError("orchion-bench notify: NOTIFY_SOCKET names no socket\n")
        exit(3)
    }
    for state in states { notifier.send(state) }
    if let interval = notifier.watchdogInterval {
        let (seconds, attoseconds) = interval.components
        print("watchdog \(seconds * 1_000_000 + attoseconds / 1_000_000_000_000) us")
    } else {
        print("watchdog none")
    }
    print("failures \(notifier.failures)")
    exit(notifier.failures == 0 ? 0 : 1)
}

/// Writes `text` to standard error (fd 2, unbuffered).
func standardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let wrote = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        guard wrote > 0 else { return }
        bytes = bytes.dropFirst(wrote)
    }
}
