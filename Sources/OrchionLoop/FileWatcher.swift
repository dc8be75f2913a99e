import CLibUV

/// Watches a file or directory for changes (inotify through libuv).
///
/// Threading: loop thread only, checked at every public entry point;
/// `@unchecked Sendable` is backed by that check (see `LoopHandle`).
public final class FileWatcher: LoopHandle, @unchecked Sendable {
    private var callback: ((String?) -> Void)?

    /// Creates an idle watcher.
    public init(loop: EventLoop) throws(LoopError) {
        try loop.checkOpen("create a FileWatcher")
        super.init(loop: loop, type: UV_FS_EVENT)
        try adopt(uv_fs_event_init(loop.raw, event), "uv_fs_event_init")
    }

    private var event: UnsafeMutablePointer<uv_fs_event_t> { raw.assumingMemoryBound(to: uv_fs_event_t.self) }

    /// Calls `callback` with the changed entry's name (nil when unknown) on
    /// every change under `path`.
    public func start(path: String, _ callback: @escaping (String?) -> Void) throws(LoopError) {
        preconditionInLoopThread()
        self.callback = callback
        try LoopError.check(
            uv_fs_event_start(
                event,
                { event, name, _, status in
                    guard status == 0 else { return }
                    LoopHandle.owner(of: event, as: FileWatcher.self).callback?(name.map { String(cString: $0) })
                }, path, 0), "watch \(path)")
    }

    /// Stops watching and closes the handle.
    public override func close(_ completion: (() -> Void)? = nil) {
        preconditionInLoopThread()
        callback = nil
        super.close(completion)
    }
}
