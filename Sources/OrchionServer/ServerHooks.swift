import OrchionLoop

/// What a process that embeds the server (`orchion up`, which also runs a
/// local agent) adds to `ControlPlaneServer.run`: a call once the API
/// listens, and a say in when the server stops.
///
/// Threading: both closures run on the server's loop thread.
public struct ServerHooks: Sendable {
    /// Runs once the API listens, before any request is served.
    public var started: @Sendable (RunningServer) -> Void
    /// Runs for each SIGTERM or SIGINT, instead of stopping the server at
    /// once: the server stops when `proceed` is called (on the loop thread;
    /// a second call does nothing). A hook that calls `proceed` at once
    /// keeps `orchion server`'s behaviour.
    public var stopping: @Sendable (_ signal: Int32, _ proceed: @escaping @Sendable () -> Void) -> Void

    public init(
        started: @escaping @Sendable (RunningServer) -> Void,
        stopping: @escaping @Sendable (_ signal: Int32, _ proceed: @escaping @Sendable () -> Void) -> Void
    ) {
        self.started = started
        self.stopping = stopping
    }
}

/// The server `ServerHooks.started` is given.
///
/// Threading: a value; `stop` must be called on `loop`'s thread.
public struct RunningServer: Sendable {
    /// The server's loop: the embedder's handles may live on it.
    public let loop: EventLoop
    /// The address the API listens on (the real port when port 0 was asked).
    public let address: SocketAddress
    /// The tokens the server accepts (the join token for a local agent).
    public let tokens: ServerTokens
    /// The cluster CA when the port speaks TLS (its hash for join commands,
    /// its certificate file for local clients); nil for plaintext.
    public let tls: ServerTLS.Summary?
    /// Stops the server now (no `stopping` call) and makes `run` return
    /// `status`.
    public let stop: @Sendable (_ status: Int32) -> Void
}
