import Foundation
import OrchionAgent
import TestSupport
import Testing

@Suite struct NotifySocketTests {
    @Test func aSocketInATempDirReceivesEachStateAsOneExactDatagram() throws {
        let manager = try ManagerSocket()
        defer { manager.shutdown() }
        let notifier = try #require(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": manager.address]))
        notifier.send("READY=1")
        notifier.send("STATUS=registered as node-1")
        notifier.send("WATCHDOG=1")
        #expect(manager.receive() == "READY=1")
        #expect(manager.receive() == "STATUS=registered as node-1")
        #expect(manager.receive() == "WATCHDOG=1")
        #expect(!manager.hasPending)
        #expect(notifier.failures == 0)
        #expect(notifier.path == manager.address)
    }

    @Test func anAbstractNamespaceSocketReceivesTheStates() throws {
        let manager = try ManagerSocket(
            abstract: "orchion-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { manager.shutdown() }
        let notifier = try #require(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": manager.address]))
        notifier.send("READY=1\nSTATUS=connected")
        notifier.send("WATCHDOG=1")
        #expect(manager.receive() == "READY=1\nSTATUS=connected")
        #expect(manager.receive() == "WATCHDOG=1")
        #expect(notifier.failures == 0)
    }

    @Test func sendingWithNoManagerListeningIsCountedAndDoesNotThrowOrBlock() throws {
        let directory = try Paths.temporaryDirectory("orchion-notify-gone")
        defer { try? FileManager.default.removeItem(at: directory) }
        let notifier = try #require(
            NotifySocket.fromEnvironment(["NOTIFY_SOCKET": directory.appendingPathComponent("absent").path]))
        notifier.send("READY=1")
        notifier.send("WATCHDOG=1")
        #expect(notifier.failures == 2)
    }

    @Test func unsetEmptyOrRelativeNotifySocketGivesNoNotifier() {
        #expect(NotifySocket.fromEnvironment([:]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": ""]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": "run/notify"]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": "@"]) == nil)
        #expect(NotifySocket.fromEnvironment(["NOTIFY_SOCKET": "/" + String(repeating: "a", count: 200)]) == nil)
    }

    @Test func aTooLongPathIsRefusedWithWhatWasExpected() {
        let long = "/" + String(repeating: "a", count: 200)
        #expect(throws: NotifySocket.InvalidAddress.self) { try NotifySocket(path: long) }
        do {
            _ = try NotifySocket(path: long)
        } catch {
            #expect(
                error.description
                    == "NOTIFY_SOCKET: expected an absolute path or an @abstract name of at most 107 bytes, found '\(long)'"
            )
        }
    }

    @Test func theWatchdogIntervalIsHalfOfWatchdogUsecForThisProcessOnly() {
        let socket = ["NOTIFY_SOCKET": "@orchion-test-unused"]
        func interval(_ extra: [String: String]) -> Duration? {
            NotifySocket.fromEnvironment(socket.merging(extra) { $1 })?.watchdogInterval
        }
        #expect(interval(["WATCHDOG_USEC": "30000000"]) == .seconds(15))
        #expect(interval(["WATCHDOG_USEC": "3"]) == .microseconds(1))
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"]) == .seconds(15))
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid() + 1)"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "0"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "-5"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "30s"]) == nil)
        #expect(interval(["WATCHDOG_USEC": "99999999999999999999999"]) == nil)
        #expect(interval([:]) == nil)
    }

    /// A real process whose environment names the socket: `orchion-bench
    /// notify` builds its notifier with `fromEnvironment()` (its own
    /// environment, read with getenv) and sends its arguments.
    @Test func aChildProcessFindsTheSocketAndWatchdogInItsEnvironment() throws {
        let manager = try ManagerSocket()
        defer { manager.shutdown() }
        let bench = Paths.build.appendingPathComponent("orchion-bench").path
        let result = try runCommand(
            [bench, "notify", "READY=1", "STATUS=child says hi"],
            environment: ["NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "4000000"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "watchdog 2000000 us\nfailures 0\n")
        #expect(manager.receive() == "READY=1")
        #expect(manager.receive() == "STATUS=child says hi")
        #expect(!manager.hasPending)

        let other = try runCommand(
            [bench, "notify", "WATCHDOG=1"],
            environment: ["NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"],
            timeout: 60)
        #expect(other.stdout == "watchdog none\nfailures 0\n")
        #expect(manager.receive() == "WATCHDOG=1")

        let unset = try runCommand([bench, "notify", "READY=1"], environment: [:], timeout: 60)
        #expect(unset.status == 3)
        #expect(unset.stderr == "orchion-bench notify: NOTIFY_SOCKET names no socket\n")
        #expect(!manager.hasPending)
    }
}
