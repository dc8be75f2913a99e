import Glibc

/// Runs a helper program (`nvidia-smi`) and collects its standard output,
/// bounded in time and size: the program runs in its own process group,
/// which is killed when the time is up.
///
/// Threading: blocks for up to `timeoutMillis`; call it off the loop thread.
enum ToolRun {
    /// The program's standard output if it exited with status 0.
    static func output(
        _ program: String, _ arguments: [String], timeoutMillis: Int, limit: Int = 64 << 10
    ) -> Result<String, ToolError> {
        var fds: [Int32] = [-1, -1]
        // A socket pair rather than a pipe: it is close-on-exec from the
        // start (another thread may spawn at any moment), and Glibc's
        // module does not export pipe2.
        let type = Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { return .failure(.notStarted(program, errnoText())) }
        shutdown(fds[0], Int32(SHUT_WR))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let started = monotonicMillis()
        var spawned = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        // ETXTBSY: a process forked elsewhere in this program still holds a
        // descriptor that wrote the file; it goes at that child's exec.
        while spawned == ETXTBSY && monotonicMillis() - started < min(timeoutMillis, 1000) {
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
            spawned = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        }
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            return .failure(.notStarted(program, String(cString: strerror(spawned))))
        }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var timedOut = false
        while true {
            let left = timeoutMillis - (monotonicMillis() - started)
            if left <= 0 {
                timedOut = true
                break
            }
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: left))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            if output.count < limit { output.append(contentsOf: chunk[0..<min(count, limit - output.count)]) }
        }
        close(fds[0])
        var status: Int32 = 0
        // Output closed: the program should be exiting; give it what is
        // left of the time, then stop its whole group.
        while !timedOut {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { return .failure(.failed(program, "waitpid: \(errnoText())")) }
            if monotonicMillis() - started >= timeoutMillis {
                timedOut = true
                break
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
            nanosleep(&pause, nil)
        }
        if timedOut {
            kill(-pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        if timedOut { return .failure(.timedOut(program, timeoutMillis)) }
        guard status & 0x7f == 0 else { return .failure(.failed(program, "killed by signal \(status & 0x7f)")) }
        let code = (status >> 8) & 0xff
        guard code == 0 else { return .failure(.failed(program, "exit status \(code)")) }
        return .success(String(decoding: output, as: UTF8.self))
    }
}

extension ToolRun {
    /// Milliseconds on the monotonic clock.
    fileprivate static func monotonicMillis() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }

    /// `strerror(errno)`.
    fileprivate static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Why a helper program gave no answer.
enum ToolError: Error, Hashable, CustomStringConvertible {
    case notStarted(String, String)
    case timedOut(String, Int)
    case failed(String, String)

    var description: String {
        switch self {
        case let .notStarted(program, reason): "\(program) could not be started: \(reason)"
        case let .timedOut(program, millis): "\(program) gave no answer within \(millis) ms and was killed"
        case let .failed(program, reason): "\(program) failed: \(reason)"
        }
    }
}
