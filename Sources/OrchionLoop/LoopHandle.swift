import CLibUV

/// The base of every libuv handle wrapper.
///
/// Owns a heap-allocated handle of `uv_handle_size(type)` bytes. Once the
/// handle is initialised the wrapper keeps itself alive (the handle's `data`
/// holds a retained reference) until `close()` completes, so callbacks can
/// always reach it. Every handle must be closed.
///
/// Threading: loop thread only, checked: every public entry point of a
/// handle calls `preconditionInLoopThread`, which traps with a message naming
/// the handle, the method and both threads (see `EventLoop`). That run-time
/// check is what backs the `@unchecked Sendable` conformance: handles travel
/// through `Sendable` closures (`loop.execute`, `loop.submit`, tasks on the
/// loop) to reach the loop thread, as `LoopBound` values do, and any use on
/// another thread is caught instead of racing.
open class LoopHandle: @unchecked Sendable {
    /// The loop this handle belongs to.
    public let loop: EventLoop
    /// The handle's memory, typed per subclass.
    public let raw: UnsafeMutableRawPointer
    private var onClose: (() -> Void)?
    /// Whether `close()` has been called.
    public private(set) var isClosing = false

    /// Allocates the handle. Call on the loop thread, on an open loop:
    /// subclass initialisers call `loop.checkOpen` first to throw instead.
    init(loop: EventLoop, type: uv_handle_type) {
        self.loop = loop
        raw = .allocate(byteCount: uv_handle_size(type), alignment: 16)
        loop.preconditionInLoopThread("creating a \(Self.self)")
        if loop.isClosed {
            fatalError("OrchionLoop: a \(Self.self) was created on a closed event loop")
        }
    }

    /// The handle as a `uv_handle_t`.
    public var handle: UnsafeMutablePointer<uv_handle_t> { raw.assumingMemoryBound(to: uv_handle_t.self) }

    /// Traps unless called on the loop thread, naming this handle's type and
    /// `method` (the caller's name by default), e.g. "Timer.start(after:)".
    @inline(__always)
    public func preconditionInLoopThread(_ method: StaticString = #function) {
        loop.preconditionInLoopThread("\(Self.self).\(method)")
    }

    /// Records an init status; on success retains self until close.
    func adopt(_ status: Int32, _ operation: @autoclosure () -> String) throws(LoopError) {
        guard status == 0 else { throw LoopError(status, operation()) }
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// The wrapper that owns `handle`.
    static func owner<T: LoopHandle>(of handle: UnsafeMutableRawPointer?, as type: T.Type) -> T {
        let data = handle!.assumingMemoryBound(to: uv_handle_t.self).pointee.data!
        return Unmanaged<T>.fromOpaque(data).takeUnretainedValue()
    }

    /// Closes the handle; `completion` runs on the loop thread once libuv has
    /// released it. Calling close twice does nothing.
    public func close(_ completion: (() -> Void)? = nil) {
        preconditionInLoopThread()
        guard !isClosing else { return }
        isClosing = true
        onClose = completion
        uv_close(handle) { handle in
            let owner = Unmanaged<LoopHandle>.fromOpaque(handle!.pointee.data)
            let wrapper = owner.takeUnretainedValue()
            wrapper.onClose?()
            wrapper.onClose = nil
            owner.release()
        }
    }

    deinit { raw.deallocate() }
}
