import Dispatch
import Glibc
import OrchionLoop
import OrchionWire
import Synchronization

/// A real `APIServer` on 127.0.0.1 (a free port), started once per process on
/// its own loop thread and serving `FuzzControl` and `FuzzAgent`, and a
/// blocking client that pushes one input through a fresh loopback connection.
///
/// Threading: `exchange` is called from one thread at a time; the server
/// lives on its loop thread. A crash on the loop thread kills the process,
/// which is how libFuzzer sees it.
final class FuzzServer: Sendable {
    static let clientToken = "fuzz-client-token"
    static let joinToken = "fuzz-join-token"
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// How long one exchange may take before the client gives up on the answer.
    static let answerBoundMillis = 2_000
    /// How long the loop may take to run a posted no-op after an exchange.
    static let stallBoundSeconds = 5.0
    /// Loop turns a vanishing peer's exchange waits after its reset.
    static let turnsAfterReset = 4
    /// Open descriptors of the whole process above which the server is leaking them.
    static let descriptorBound = 256

    static let shared = FuzzServer()

    private let thread: LoopThread
    private let port: UInt16
    private let server: LoopBound<WireServer>
    private let exchanges = Atomic<Int>(0)

    private init() {
        let thread: LoopThread
        do { thread = try LoopThread() } catch { preconditionFailure("fuzz harness: no loop thread: \(error)") }
        let loop = thread.loop
        let started = Mutex<Result<LoopBound<WireServer>, LoopError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            do throws(LoopError) {
                let authenticator = Authenticator(
                    joinToken: FuzzServer.joinToken, clientTokens: ["fuzz": FuzzServer.clientToken])
                let server = try APIServer.start(
                    loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0), authenticator: authenticator,
                    control: FuzzControl(), agent: FuzzAgent())
                started.withLock { $0 = .success(LoopBound(server, loop: loop)) }
            } catch {
                started.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        switch started.withLock({ $0 }) {
        case .success(let server)?:
            self.server = server
        case .failure(let error)?:
            preconditionFailure("fuzz harness: the server did not start: \(error)")
        case nil:
            preconditionFailure("fuzz harness: the server start reported nothing")
        }
        let port = Mutex<UInt16>(0)
        let known = DispatchSemaphore(value: 0)
        let bound = self.server
        loop.execute {
            port.withLock { $0 = bound.wrapped.address.port }
            known.signal()
        }
        known.wait()
        self.port = port.withLock { $0 }
        self.thread = thread
    }

    /// Sends `prefix` and `input` on a new connection, half-closes it, reads
    /// until the server closes or `answerBoundMillis` pass, then checks that
    /// the server's loop still runs and that it is not leaking descriptors.
    ///
    /// When `vanish` is given the client is a peer that goes away mid-answer:
    /// it resets the connection as soon as `vanish` says the bytes received
    /// so far hold an answer (so the server has handled the input and may
    /// still be writing),
    /// and the check waits for a few loop turns so the server meets the
    /// reset (and its tasks their cancellation) while this input is still
    /// the one running.
    func exchange(prefix: [UInt8], _ input: UnsafeRawBufferPointer, vanish: (([UInt8]) -> Bool)? = nil) {
        var bytes = prefix
        bytes.append(contentsOf: input)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { preconditionFailure("fuzz harness: socket() failed, errno \(errno)") }
        // Thousands of exchanges a second leave the client's side of each in
        // TIME_WAIT; one source address would run out of ephemeral ports in
        // about a minute (EADDRNOTAVAIL). Rotate over 127.0.1.1–127.0.1.250.
        var source = sockaddr_in()
        source.sin_family = sa_family_t(AF_INET)
        source.sin_addr.s_addr = (UInt32(0x7F00_0101) + UInt32(exchanges.load(ordering: .relaxed) % 250)).bigEndian
        let bound = withUnsafePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            if code == EADDRINUSE || code == EADDRNOTAVAIL { return }
            Self.fail("fuzz harness: bind() to a loopback source failed, errno \(code)")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            // Out of local ports or interrupted: the harness's problem, not the server's.
            if code == EADDRNOTAVAIL || code == EADDRINUSE || code == EINTR { return }
            Self.fail("the server refused a connection on 127.0.0.1:\(port), errno \(code)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        converse(fd, bytes, until: vanish)
        if vanish != nil {
            var reset = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        }
        close(fd)
        if vanish != nil { for _ in 0..<Self.turnsAfterReset { awaitLoopTurn() } }
        checkServerAlive()
    }

    /// Writes `bytes` while reading whatever comes back, then half-closes and
    /// reads until EOF, an error or the bound — or until `answered` says the
    /// bytes received so far hold an answer.
    private func converse(_ fd: Int32, _ bytes: [UInt8], until answered: (([UInt8]) -> Bool)?) {
        var received: [UInt8] = []
        var sent = 0
        var halfClosed = false
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        let deadline = ContinuousClock.now + .milliseconds(Self.answerBoundMillis)
        while ContinuousClock.now < deadline {
            if sent == bytes.count && !halfClosed {
                shutdown(fd, Int32(SHUT_WR))
                halfClosed = true
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN) | (halfClosed ? 0 : Int16(POLLOUT)), revents: 0)
            let left = deadline - ContinuousClock.now
            let millis = max(
                1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard poll(&poller, 1, millis) >= 0 || errno == EINTR else { return }
            if poller.revents & Int16(POLLIN) != 0 {
                let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count == 0 { return }
                if count > 0, let answered {
                    received += scratch.prefix(count)
                    if answered(received) { return }
                }
                if count < 0 && errno != EAGAIN && errno != EINTR { return }
            } else if poller.revents & (Int16(POLLERR) | Int16(POLLHUP)) != 0 {
                return
            }
            if !halfClosed && poller.revents & Int16(POLLOUT) != 0 {
                let count = bytes.withUnsafeBytes { buffer in
                    buffer.baseAddress.map { send(fd, $0 + sent, buffer.count - sent, Int32(MSG_NOSIGNAL)) } ?? 0
                }
                if count > 0 { sent += count } else if errno != EAGAIN && errno != EINTR { return }
            }
        }
    }

    /// Records `message` in `.build-fuzz/harness-failures.log` (libFuzzer's
    /// fork mode discards a child's own output), then traps with it.
    static func fail(_ message: String) -> Never {
        let line = "pid \(getpid()): \(message)\n"
        let fd = open(".build-fuzz/harness-failures.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 {
            _ = line.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        preconditionFailure(message)
    }

    /// Traps when the loop does not run a posted no-op within the bound, or
    /// (every 64th exchange, once the server had time to close its side)
    /// when the process holds more descriptors than any correct run needs.
    private func checkServerAlive() {
        awaitLoopTurn()
        let count = exchanges.add(1, ordering: .relaxed).newValue
        guard count % 64 == 0 else { return }
        let open = Self.openDescriptors()
        if open > Self.descriptorBound {
            Self.fail("\(open) descriptors open after \(count) closed exchanges: the server leaks them")
        }
    }

    /// Waits until the loop has run a posted no-op; traps after the bound.
    private func awaitLoopTurn() {
        let ran = DispatchSemaphore(value: 0)
        thread.loop.execute { ran.signal() }
        if ran.wait(timeout: .now() + Self.stallBoundSeconds) == .timedOut {
            Self.fail("the server's loop ran no posted task within \(Self.stallBoundSeconds) s: it is stalled")
        }
    }

    private static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return count
    }
}
