import CLibUV

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP connection. Threading: loop thread only.
public final class TCPConnection: Stream, @unchecked Sendable {
    private var onConnect: ((Result<TCPConnection, LoopError>) -> Void)?

    init(loop: EventLoop) throws(LoopError) {
        try loop.checkOpen("create a TCPConnection")
        super.init(loop: loop, type: UV_TCP)
        try adopt(uv_tcp_init(loop.raw, tcp), "uv_tcp_init")
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> { raw.assumingMemoryBound(to: uv_tcp_t.self) }

    /// Connects to `address`; `completion` runs on the loop thread. On failure
    /// the connection is already closed.
    public static func connect(
        loop: EventLoop, to address: SocketAddress,
        _ completion: @escaping (Result<TCPConnection, LoopError>) -> Void
    ) {
        let connection: TCPConnection
        do { connection = try TCPConnection(loop: loop) } catch { return completion(.failure(error)) }
        connection.onConnect = completion
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        do {
            try address.withSockaddr { sockaddr throws(LoopError) in
                try LoopError.check(
                    uv_tcp_connect(request, connection.tcp, sockaddr) { request, status in
                        guard let request else { return }
                        let connection = LoopHandle.owner(of: request.pointee.handle, as: TCPConnection.self)
                        request.deallocate()
                        connection.connected(status)
                    }, "connect \(address)")
            }
        } catch {
            request.deallocate()
            connection.onConnect = nil
            connection.close()
            completion(.failure(error))
        }
    }

    private func connected(_ status: Int32) {
        let completion = onConnect
        onConnect = nil
        if status < 0 {
            close()
            completion?(.failure(LoopError(status, "connect")))
        } else {
            completion?(.success(self))
        }
    }

    /// Turns Nagle's algorithm off (true) or on.
    public func setNoDelay(_ enabled: Bool) {
        preconditionInLoopThread()
        guard !isClosing else { return }
        uv_tcp_nodelay(tcp, enabled ? 1 : 0)
    }

    /// Turns TCP keepalive on, first probe after `idleSeconds` of silence
    /// (at least 1), so a peer that vanished without a FIN or RST is found
    /// and the connection fails instead of lingering forever.
    public func setKeepAlive(idleSeconds: UInt32) throws(LoopError) {
        preconditionInLoopThread()
        guard !isClosing else { throw LoopError(Int32(UV_EPIPE.rawValue), "keepalive on a closed connection") }
        try LoopError.check(uv_tcp_keepalive(tcp, 1, max(idleSeconds, 1)), "uv_tcp_keepalive")
    }

    /// The remote address, when connected.
    public var peer: SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        guard !isClosing else { return nil }
        let status = withUnsafeMutableBytes(of: &storage) {
            uv_tcp_getpeername(tcp, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return status == 0 ? SocketAddress(storage) : nil
    }
}

/// A listening TCP socket. Threading: loop thread only.
public final class TCPListener: LoopHandle, @unchecked Sendable {
    private var onConnection: ((Result<TCPConnection, LoopError>) -> Void)?
    /// A descriptor held in reserve for accepting while out of descriptors.
    private var spare: Int32 = -1
    /// Whether the last accept failed for want of descriptors (reported once per burst).
    private var refusedForDescriptors = false

    /// Binds to `address` (port 0 picks a free port; see `address`).
    public init(loop: EventLoop, address: SocketAddress) throws(LoopError) {
        try loop.checkOpen("create a TCPListener")
        super.init(loop: loop, type: UV_TCP)
        try adopt(uv_tcp_init(loop.raw, tcp), "uv_tcp_init")
        do {
            try address.withSockaddr { sockaddr throws(LoopError) in
                try LoopError.check(uv_tcp_bind(tcp, sockaddr, 0), "bind \(address)")
            }
        } catch {
            close()
            throw error
        }
    }

    private var tcp: UnsafeMutablePointer<uv_tcp_t> { raw.assumingMemoryBound(to: uv_tcp_t.self) }

    /// The bound address, with the real port when bound to port 0.
    public var address: SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        guard !isClosing else { return nil }
        let status = withUnsafeMutableBytes(of: &storage) {
            uv_tcp_getsockname(tcp, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return status == 0 ? SocketAddress(storage) : nil
    }

    /// Starts accepting; each accepted connection (or accept error) goes to `callback`.
    ///
    /// Running out of descriptors (`EMFILE`/`ENFILE`) costs neither a crash
    /// nor a busy loop: libuv and this listener each hold one spare
    /// descriptor, which is given up for a moment to accept and at once close
    /// the waiting connections (their clients see the connection closed), and
    /// the error is reported to `callback` once per burst. Should both spares
    /// be lost (another thread took them), the listener closes itself rather
    /// than spin, and reports `UV_EMFILE` with operation "accept (listener closed)".
    public func listen(backlog: Int32 = 511, _ callback: @escaping (Result<TCPConnection, LoopError>) -> Void)
        throws(LoopError)
    {
        preconditionInLoopThread()
        onConnection = callback
        if spare < 0 { spare = open("/dev/null", O_RDONLY | O_CLOEXEC) }
        try LoopError.check(
            uv_listen(raw.assumingMemoryBound(to: uv_stream_t.self), backlog) { server, status in
                LoopHandle.owner(of: server, as: TCPListener.self).accept(status)
            }, "listen")
    }

    private func accept(_ status: Int32) {
        guard status >= 0 else {
            if status == UV_EMFILE.rawValue || status == UV_ENFILE.rawValue { return outOfDescriptors(status) }
            return onConnection?(.failure(LoopError(status, "accept"))) ?? ()
        }
        refusedForDescriptors = false
        do {
            let connection = try TCPConnection(loop: loop)
            let accepted = uv_accept(raw.assumingMemoryBound(to: uv_stream_t.self), connection.stream)
            guard accepted == 0 else {
                connection.close()
                onConnection?(.failure(LoopError(accepted, "accept")))
                return
            }
            onConnection?(.success(connection))
        } catch {
            onConnection?(.failure(error))
        }
    }

    /// libuv's own spare descriptor is gone: use ours to accept-and-close
    /// what waits, so libuv's accept loop sees EAGAIN and returns.
    private func outOfDescriptors(_ status: Int32) {
        if !refusedForDescriptors { onConnection?(.failure(LoopError(status, "accept"))) }
        refusedForDescriptors = true
        var fd: uv_os_fd_t = -1
        guard spare >= 0, uv_fileno(handle, &fd) == 0 else {
            onConnection?(.failure(LoopError(status, "accept (listener closed)")))
            return close()
        }
        Glibc.close(spare)
        spare = -1
        while true {
            let accepted = Glibc.accept(fd, nil, nil)
            if accepted >= 0 {
                Glibc.close(accepted)
            } else if errno != EINTR && errno != ECONNABORTED {
                break
            }
        }
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Stops listening and closes the socket.
    public override func close(_ completion: (() -> Void)? = nil) {
        onConnection = nil
        if spare >= 0 {
            Glibc.close(spare)
            spare = -1
        }
        super.close(completion)
    }
}
