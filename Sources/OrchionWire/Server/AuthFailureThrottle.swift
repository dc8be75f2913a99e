import Glibc
import OrchionLoop

/// How repeated authentication failures from one peer are slowed down.
///
/// The defaults: 5 refused tokens per peer go unpunished (a typo, a
/// script with a stale token); each further one, until the peer has been
/// quiet for a whole `windowMillis`, is answered only after 250 ms, then
/// 500 ms, 1 s, and 2 s from then on. A 256-bit token cannot be guessed
/// at any rate; the slow-down is for hand-made tokens (16 characters at
/// least) and to keep a noisy client from costing the server much: with
/// `WireLimits.maxConnectionsPerPeer` connections, one address gets at
/// most about 128 refusals a second.
///
/// Threading: a value; safe anywhere.
public struct AuthFailurePolicy: Sendable {
    /// Failures a peer may have within the window before any is delayed.
    public var freeFailures = 5
    /// A peer's count starts over once it has had no failure for this long.
    public var windowMillis: UInt64 = 60_000
    /// The delay of the first failure past `freeFailures`; it doubles with each further one.
    public var firstDelayMillis: UInt64 = 250
    /// The longest delay.
    public var maxDelayMillis: UInt64 = 2_000
    /// Peers tracked at once; past it the one quiet longest is forgotten.
    public var maxPeers = 4_096
    /// Delayed answers waiting at once; past it a failure's connection
    /// (HTTP/1.1) or stream (HTTP/2) is closed without an answer.
    public var maxHeldAnswers = 1_024

    public init() {}
}

/// Counts authentication failures (a token presented and refused:
/// unknown or expired; a missing token guesses nothing and is not counted)
/// per peer address, and delays the answers to a peer that keeps failing
/// (`AuthFailurePolicy`). Successful calls are never delayed, and a failing
/// peer does not affect others. IPv4 peers count by address, IPv6 peers by
/// their /64 (one host usually holds a whole /64).
///
/// Memory is bounded: at most `maxPeers` records and `maxHeldAnswers`
/// timers. A delay is a libuv timer; nothing blocks the loop.
///
/// Threading: loop thread only.
public final class AuthFailureThrottle {
    private struct Record {
        var failures: Int
        var last: ContinuousClock.Instant
    }

    private let loop: EventLoop
    let policy: AuthFailurePolicy
    private var peers: [String: Record] = [:]
    /// Delayed answers now waiting.
    public private(set) var held = 0
    /// Failures answered late so far, and those closed without an answer (over `maxHeldAnswers`).
    public private(set) var delayed = 0
    public private(set) var dropped = 0

    public init(loop: EventLoop, policy: AuthFailurePolicy = AuthFailurePolicy()) {
        self.loop = loop
        self.policy = policy
    }

    /// Peers with a failure record now.
    public var trackedPeers: Int { peers.count }

    /// Records one failure from `host`; answers how long to hold its answer (0: none).
    public func failure(from host: String?, now: ContinuousClock.Instant = .now) -> UInt64 {
        let key = PeerKey.of(host)
        var record = peers[key] ?? Record(failures: 0, last: now)
        if now - record.last > .milliseconds(policy.windowMillis) { record.failures = 0 }
        record.failures = min(record.failures + 1, Int.max / 2)
        record.last = now
        if peers[key] == nil && peers.count >= policy.maxPeers { forgetOne(now: now) }
        peers[key] = record
        let over = record.failures - policy.freeFailures
        guard over > 0 else { return 0 }
        let doublings = UInt64(min(over - 1, 20))
        let (delay, overflow) = policy.firstDelayMillis.multipliedReportingOverflow(by: 1 << doublings)
        return overflow ? policy.maxDelayMillis : min(delay, policy.maxDelayMillis)
    }

    /// Runs `answer` on the loop after `millis` (at once for 0). False,
    /// without running it, when `maxHeldAnswers` already wait: the caller
    /// then closes the connection or stream instead.
    public func hold(_ millis: UInt64, _ answer: @escaping () -> Void) -> Bool {
        guard millis > 0 else {
            answer()
            return true
        }
        guard held < policy.maxHeldAnswers, let timer = try? Timer(loop: loop) else {
            dropped += 1
            return false
        }
        held += 1
        delayed += 1
        timer.start(after: millis) { [self] in
            timer.close()
            held -= 1
            answer()
        }
        return true
    }

    /// Makes room: drops records older than the window, else the one quiet longest.
    private func forgetOne(now: ContinuousClock.Instant) {
        let window = Duration.milliseconds(policy.windowMillis)
        peers = peers.filter { now - $0.value.last <= window }
        guard peers.count >= policy.maxPeers, let oldest = peers.min(by: { $0.value.last < $1.value.last }) else {
            return
        }
        peers[oldest.key] = nil
    }
}
