import CLibUV

/// A TCP connection. Threading: loop thread only.
public final class TCPConnection: Stream, @unchecked Sendable {
    private var onConnect: ((Result<TCPConnection, LoopError>) -> Void)?

    init(loop: EventLoop) throws(LoopError) {
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
                        let connection = LoopHandle.owner(of: request!.pointee.handle, as: TCPConnection.self)
                        request!.deallocate()
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
        uv_tcp_nodelay(tcp, enabled ? 1 : 0)
    }

    /// The remote address, when connected.
    public var peer: SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutableBytes(of: &storage) {
            uv_tcp_getpeername(tcp, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return status == 0 ? SocketAddress(storage) : nil
    }
}

/// A listening TCP socket. Threading: loop thread only.
public final class TCPListener: LoopHandle, @unchecked Sendable {
    private var onConnection: ((Result<TCPConnection, LoopError>) -> Void)?

    /// Binds to `address` (port 0 picks a free port; see `address`).
    public init(loop: EventLoop, address: SocketAddress) throws(LoopError) {
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
        let status = withUnsafeMutableBytes(of: &storage) {
            uv_tcp_getsockname(tcp, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return status == 0 ? SocketAddress(storage) : nil
    }

    /// Starts accepting; each accepted connection (or accept error) goes to `callback`.
    public func listen(backlog: Int32 = 511, _ callback: @escaping (Result<TCPConnection, LoopError>) -> Void)
        throws(LoopError)
    {
        onConnection = callback
        try LoopError.check(
            uv_listen(raw.assumingMemoryBound(to: uv_stream_t.self), backlog) { server, status in
                LoopHandle.owner(of: server, as: TCPListener.self).accept(status)
            }, "listen")
    }

    private func accept(_ status: Int32) {
        guard status >= 0 else { return onConnection?(.failure(LoopError(status, "accept"))) ?? () }
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

    /// Stops listening and closes the socket.
    public override func close(_ completion: (() -> Void)? = nil) {
        onConnection = nil
        super.close(completion)
    }
}
