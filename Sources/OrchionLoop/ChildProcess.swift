import CLibUV
import Glibc
import OrchionCore

/// How to start a child process.
public struct ProcessOptions: Sendable {
    /// What a child's standard stream is connected to.
    public enum Stdio: Sendable {
        /// /dev/null.
        case ignore
        /// A `Pipe` the parent reads (stdout/stderr) or writes (stdin).
        case pipe
    }

    /// The program; looked up in PATH when it has no slash.
    public var file: String
    /// argv, `argv[0]` included.
    public var arguments: [String]
    /// The full environment as "KEY=value"; nil inherits the parent's.
    public var environment: [String]?
    /// Working directory; nil inherits.
    public var workingDirectory: String?
    /// Run as this user and group id; nil keeps the parent's.
    public var userID: UInt32?
    public var groupID: UInt32?
    /// Start the child in its own session and process group, so `kill` reaches
    /// its descendants too. On by default.
    public var newProcessGroup = true
    public var stdin: Stdio = .ignore
    public var stdout: Stdio = .pipe
    public var stderr: Stdio = .pipe

    /// Options for running `arguments` (whose first element is the program).
    public init(arguments: [String]) {
        self.file = arguments.first ?? ""
        self.arguments = arguments
    }
}

/// A running child process started with `uv_spawn`.
///
/// The handle closes itself after `onExit` has run. Pipes for its standard
/// streams are owned by the caller, who reads them to EOF and closes them.
///
/// Threading: loop thread only, checked at every public entry point;
/// `@unchecked Sendable` is backed by that check (see `LoopHandle`).
public final class ChildProcess: LoopHandle, @unchecked Sendable {
    /// The child's process id (also its process group id when `newProcessGroup`).
    public private(set) var pid: Int32 = 0
    /// The parent's end of the child's stdin, when requested.
    public let stdin: Pipe?
    /// The parent's end of the child's stdout, when requested.
    public let stdout: Pipe?
    /// The parent's end of the child's stderr, when requested.
    public let stderr: Pipe?
    private let group: Bool
    private var onExit: ((ExitStatus) -> Void)?
    /// Whether the process has exited.
    public private(set) var exited = false

    /// Spawns a process; `onExit` runs on the loop thread when it ends.
    public init(loop: EventLoop, options: ProcessOptions, onExit: @escaping (ExitStatus) -> Void) throws(LoopError) {
        loop.preconditionInLoopThread("ChildProcess.init(loop:options:onExit:)")
        try loop.checkOpen("spawn \(options.file)")
        func makePipe(_ mode: ProcessOptions.Stdio) throws(LoopError) -> Pipe? {
            mode == .pipe ? try Pipe(loop: loop) : nil
        }
        stdin = try makePipe(options.stdin)
        stdout = try makePipe(options.stdout)
        stderr = try makePipe(options.stderr)
        group = options.newProcessGroup
        self.onExit = onExit
        super.init(loop: loop, type: UV_PROCESS)
        handle.pointee.data = nil
        do {
            try spawn(options)
        } catch {
            for pipe in [stdin, stdout, stderr] { pipe?.close() }
            throw error
        }
    }

    private var process: UnsafeMutablePointer<uv_process_t> { raw.assumingMemoryBound(to: uv_process_t.self) }

    private func spawn(_ options: ProcessOptions) throws(LoopError) {
        let arguments = CStringArray(options.arguments)
        let environment = options.environment.map(CStringArray.init)
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        for (index, (mode, pipe)) in [(options.stdin, stdin), (options.stdout, stdout), (options.stderr, stderr)]
            .enumerated()
        {
            switch mode {
            case .ignore: orchion_uv_stdio_ignore(&stdio[index])
            case .pipe: orchion_uv_stdio_pipe(&stdio[index], pipe!.pipe, index == 0 ? 1 : 0)
            }
        }
        var flags = UInt32(0)
        if options.newProcessGroup { flags |= UV_PROCESS_DETACHED.rawValue }
        if options.userID != nil { flags |= UV_PROCESS_SETUID.rawValue }
        if options.groupID != nil { flags |= UV_PROCESS_SETGID.rawValue }
        let status = options.file.withCString { file in
            withOptionalCString(options.workingDirectory) { cwd in
                stdio.withUnsafeMutableBufferPointer { stdio in
                    var uvOptions = uv_process_options_t()
                    uvOptions.exit_cb = { process, code, signal in
                        LoopHandle.owner(of: process, as: ChildProcess.self).finished(
                            ExitStatus(code: code, signal: signal))
                    }
                    uvOptions.file = file
                    uvOptions.args = arguments.pointer
                    uvOptions.env = environment?.pointer
                    uvOptions.cwd = cwd
                    uvOptions.flags = flags
                    uvOptions.stdio_count = 3
                    uvOptions.stdio = stdio.baseAddress
                    uvOptions.uid = options.userID ?? 0
                    uvOptions.gid = options.groupID ?? 0
                    return uv_spawn(loop.raw, process, &uvOptions)
                }
            }
        }
        guard status == 0 else {
            // libuv initialises the handle even when spawning fails; it must be closed.
            handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
            close()
            throw LoopError(status, "spawn \(options.file)")
        }
        try adopt(0, "uv_spawn")
        pid = process.pointee.pid
    }

    private func finished(_ status: ExitStatus) {
        exited = true
        let callback = onExit
        onExit = nil
        callback?(status)
        close()
    }

    /// Sends `signal` to the process, or to its whole process group when it
    /// was started in one. Does nothing once the process has exited.
    public func kill(_ signal: Int32 = SIGTERM) throws(LoopError) {
        preconditionInLoopThread()
        guard !exited else { return }
        try LoopError.check(uv_kill(group ? -pid : pid, signal), "kill \(pid) with signal \(signal)")
    }
}

/// A NULL-terminated array of C strings that lives as long as this value.
private final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: count + 1)
        for (index, string) in strings.enumerated() { pointer[index] = strdup(string) }
        pointer[count] = nil
    }

    deinit {
        for index in 0..<count { free(pointer[index]) }
        pointer.deallocate()
    }
}

private func withOptionalCString<T>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
    guard let string else { return body(nil) }
    return string.withCString(body)
}
