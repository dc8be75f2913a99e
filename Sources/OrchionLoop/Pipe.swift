import CLibUV

/// A libuv pipe, used for a child process's standard streams.
///
/// Threading: loop thread only, checked at every public entry point of
/// `Stream` and `LoopHandle`; `@unchecked Sendable` is backed by that check.
public final class Pipe: Stream, @unchecked Sendable {
    /// Creates an unconnected pipe.
    public init(loop: EventLoop) throws(LoopError) {
        try loop.checkOpen("create a Pipe")
        super.init(loop: loop, type: UV_NAMED_PIPE)
        try adopt(uv_pipe_init(loop.raw, pipe, 0), "uv_pipe_init")
    }

    var pipe: UnsafeMutablePointer<uv_pipe_t> { raw.assumingMemoryBound(to: uv_pipe_t.self) }
}
