import COpenSSL
import OrchionLoop

#if canImport(Glibc)
    import Glibc
#endif

/// TLS over a TCP connection, through two OpenSSL memory BIOs: ciphertext
/// read from the socket goes into one, what OpenSSL writes comes out of the
/// other onto the socket. Nothing blocks: the handshake advances as bytes
/// arrive, bounded by a timer, and costs the loop only the cryptography of
/// this connection's messages.
///
/// Once the handshake is done it is a `ByteStream` carrying plaintext:
/// reads deliver decrypted bytes, `write` encrypts. Watermarks, queued and
/// sent bytes are the socket's (each `write` is encrypted and handed to the
/// socket at once), so backpressure works as on a plain socket.
///
/// Threading: loop thread only.
public final class TLSStream: ByteStream, @unchecked Sendable {
    /// The socket under it.
    public let socket: TCPConnection
    private var ssl: OpaquePointer?
    private var input: OpaquePointer?
    private var output: OpaquePointer?
    private let isServer: Bool
    private var handshaken = false
    private var onHandshake: ((Result<TLSStream, TLSError>) -> Void)?
    private var handshakeTimer: Timer?
    private var onRead: ((ReadEvent) -> Void)?
    private var reading = false
    /// The socket ended (EOF or error) while reads were stopped.
    private var socketEnded: ReadEvent?
    /// Delivers what OpenSSL holds after a stop-then-start of reading.
    private var resume: Timer?
    private let pin: SPKIHash?

    /// The ALPN protocol agreed in the handshake.
    public enum ApplicationProtocol: Sendable { case http2, http1, none }
    /// What ALPN chose (valid once the handshake is done).
    public private(set) var applicationProtocol = ApplicationProtocol.none
    /// The protocol version agreed, e.g. "TLSv1.3" (once the handshake is done).
    public var protocolVersion: String {
        guard let ssl, let name = SSL_get_version(ssl) else { return "" }
        return String(cString: name)
    }

    private init(socket: TCPConnection, context: OpaquePointer, server: Bool, pin: SPKIHash?) throws(TLSError) {
        self.socket = socket
        isServer = server
        self.pin = pin
        ERR_clear_error()
        var rbio: OpaquePointer?
        var wbio: OpaquePointer?
        guard let made = orchion_ssl_new(context, server ? 1 : 0, &rbio, &wbio) else {
            throw TLSError.openSSL("could not start a TLS connection")
        }
        ssl = made
        input = rbio
        output = wbio
    }

    deinit { if let ssl { SSL_free(ssl) } }

    /// Starts the server side of a handshake on `socket`, whose first
    /// `initialBytes` were already read. `completion` runs once, on the loop
    /// thread: with the stream when the handshake is done (reads stopped;
    /// call `startReading`), or with the reason it failed (the socket is
    /// then closed). A handshake not done within `timeoutMillis` fails.
    public static func accept(
        _ socket: TCPConnection, context: TLSServerContext, initialBytes: [UInt8], timeoutMillis: UInt64,
        _ completion: @escaping (Result<TLSStream, TLSError>) -> Void
    ) {
        let stream: TLSStream
        do {
            stream = try TLSStream(socket: socket, context: context.raw, server: true, pin: nil)
        } catch {
            socket.close()
            return completion(.failure(error))
        }
        withExtendedLifetime(context) { stream.begin(timeoutMillis: timeoutMillis, initialBytes, completion) }
    }

    /// Starts the client side of a handshake on a connected `socket`,
    /// expecting the server to be `host` (a DNS name or an IP address, as
    /// its certificate names it). `completion` as for `accept`; a server
    /// that does not verify (or, pinned, whose CA does not match the pin)
    /// fails it with a reason that says so.
    public static func connect(
        _ socket: TCPConnection, context: TLSClientContext, host: String, timeoutMillis: UInt64,
        _ completion: @escaping (Result<TLSStream, TLSError>) -> Void
    ) {
        let stream: TLSStream
        do {
            stream = try TLSStream(socket: socket, context: context.raw, server: false, pin: context.pin)
        } catch {
            socket.close()
            return completion(.failure(error))
        }
        var address = [UInt8](repeating: 0, count: 16)
        let isIP = inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
        guard let ssl = stream.ssl, orchion_ssl_expect_host(ssl, host, isIP ? 1 : 0) == 1 else {
            socket.close()
            return completion(.failure(TLSError("could not expect the server name \(host)")))
        }
        withExtendedLifetime(context) { stream.begin(timeoutMillis: timeoutMillis, [], completion) }
    }

    private func begin(
        timeoutMillis: UInt64, _ initialBytes: [UInt8], _ completion: @escaping (Result<TLSStream, TLSError>) -> Void
    ) {
        onHandshake = completion
        do {
            let timer = try Timer(loop: socket.loop)
            handshakeTimer = timer
            timer.start(after: timeoutMillis) { [self] in
                fail(TLSError("the TLS handshake did not finish within \(timeoutMillis)ms"))
            }
            try socket.startReading { [self] event in socketRead(event) }
        } catch {
            return fail(TLSError("could not start the TLS handshake: \(error)"))
        }
        if !initialBytes.isEmpty {
            initialBytes.withUnsafeBytes { socketRead(.data($0)) }
        } else if !isServer {
            advance()
        }
    }

    private func fail(_ error: TLSError) {
        handshakeTimer?.close()
        handshakeTimer = nil
        let completion = onHandshake
        onHandshake = nil
        flush(nil)  // an alert, when OpenSSL wrote one
        close(nil)
        completion?(.failure(error))
    }

    private func socketRead(_ event: ReadEvent) {
        guard ssl != nil, let input else { return }
        switch event {
        case .data(let bytes):
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, Int(Int32.max))
                let written = BIO_write(input, bytes.baseAddress.map { $0 + offset }, Int32(chunk))
                guard written > 0 else {
                    guard handshaken else { return fail(TLSError("out of memory for the TLS handshake")) }
                    return deliverEnd(.error(LoopError(-12, "TLS input buffer")))  // ENOMEM
                }
                offset += Int(written)
            }
            advance()
        case .eof, .error:
            guard handshaken else {
                return fail(TLSError("the peer closed the connection during the TLS handshake"))
            }
            if reading { drain() }
            deliverEnd(event)
        }
    }

    /// Moves the handshake on, then hands out any plaintext.
    private func advance() {
        guard let ssl else { return }
        if !handshaken {
            ERR_clear_error()
            let result = SSL_do_handshake(ssl)
            flush(nil)
            guard result == 1 else {
                let reason = SSL_get_error(ssl, result)
                if reason == SSL_ERROR_WANT_READ { return }
                return fail(handshakeError())
            }
            if let pin, let failure = checkPin(pin) { return fail(failure) }
            handshaken = true
            handshakeTimer?.close()
            handshakeTimer = nil
            switch orchion_ssl_alpn(ssl) {
            case 1: applicationProtocol = .http2
            case 2: applicationProtocol = .http1
            default: applicationProtocol = .none
            }
            socket.stopReading()
            let completion = onHandshake
            onHandshake = nil
            completion?(.success(self))
            return
        }
        if reading { drain() }
    }

    private func handshakeError() -> TLSError {
        guard let ssl, !isServer else { return TLSError.openSSL("TLS handshake failed") }
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            let text = X509_verify_cert_error_string(verify).map { String(cString: $0) } ?? "code \(verify)"
            return TLSError("the server's certificate did not verify: \(text)")
        }
        let failure = TLSError.openSSL("TLS handshake failed")
        guard failure.message.contains("wrong version number") || failure.message.contains("packet length too long")
        else { return failure }
        return TLSError(
            "\(failure.message) (the server answered in plaintext: it serves TLS when it listens beyond loopback or with tls.mode: on)"
        )
    }

    /// Why the pinned CA does not vouch for the server, or nil when it does.
    private func checkPin(_ pin: SPKIHash) -> TLSError? {
        guard let ssl else { return TLSError("connection closed") }
        var found = [UInt8](repeating: 0, count: 32)
        var foundAny: Int32 = 0
        var verifyError: Int32 = 0
        let result = pin.bytes.withUnsafeBufferPointer { pinBytes in
            orchion_verify_pinned(ssl, pinBytes.baseAddress, &found, &foundAny, &verifyError)
        }
        switch result {
        case 1: return nil
        case 0:
            let seen = foundAny == 1 ? SPKIHash(bytes: found).description : "no certificate"
            return TLSError(
                "the server's CA does not match the pinned CA hash: expected \(pin), the server presented \(seen)")
        default:
            let text = X509_verify_cert_error_string(Int(verifyError)).map { String(cString: $0) } ?? "\(verifyError)"
            return TLSError("the server's certificate did not verify against the pinned CA \(pin): \(text)")
        }
    }

    /// Hands decrypted bytes to the reader while it reads.
    private func drain() {
        withUnsafeTemporaryAllocation(byteCount: 16 << 10, alignment: 1) { buffer in
            while reading, let ssl {
                ERR_clear_error()
                let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
                if count > 0 {
                    onRead?(.data(UnsafeRawBufferPointer(start: buffer.baseAddress, count: Int(count))))
                    continue
                }
                let reason = SSL_get_error(ssl, count)
                flush(nil)
                if reason == SSL_ERROR_WANT_READ { return }
                if reason == SSL_ERROR_ZERO_RETURN { return deliverEnd(.eof) }
                return deliverEnd(.error(LoopError(-71, "TLS read: \(TLSError.openSSL("bad record"))")))  // EPROTO
            }
        }
        flush(nil)
    }

    private func deliverEnd(_ event: ReadEvent) {
        guard reading, let onRead else {
            socketEnded = socketEnded ?? event
            return
        }
        reading = false
        onRead(event)
    }

    /// Writes what OpenSSL produced onto the socket; returns the socket's
    /// answer (false: above the high watermark).
    @discardableResult
    private func flush(_ completion: ((LoopError?) -> Void)?) -> Bool {
        guard let output else {
            completion?(LoopError(-32, "write to a closed TLS stream"))
            return false
        }
        var data: UnsafeMutablePointer<CChar>?
        let count = orchion_bio_mem(output, &data)
        guard count > 0, let data else {
            completion?(nil)
            return socket.queuedBytes <= socket.highWatermark
        }
        let more = socket.write(UnsafeRawBufferPointer(start: data, count: count), completion: completion)
        _ = BIO_ctrl(output, BIO_CTRL_RESET, 0, nil)
        return more
    }

    // MARK: ByteStream

    public var loop: EventLoop { socket.loop }
    public var isClosing: Bool { socket.isClosing || ssl == nil }
    public var highWatermark: Int {
        get { socket.highWatermark }
        set { socket.highWatermark = newValue }
    }
    public var lowWatermark: Int {
        get { socket.lowWatermark }
        set { socket.lowWatermark = newValue }
    }
    public var onWritable: (() -> Void)? {
        get { socket.onWritable }
        set { socket.onWritable = newValue }
    }
    public var queuedBytes: Int { socket.queuedBytes }
    public var sentBytes: Int { socket.sentBytes }
    public var peerAddress: SocketAddress? { socket.peer }

    /// Starts delivering plaintext to `callback`. Bytes OpenSSL already
    /// holds are delivered on the next loop iteration, not inside this call.
    public func startReading(_ callback: @escaping (ReadEvent) -> Void) throws(LoopError) {
        guard handshaken, ssl != nil, !socket.isClosing else {
            throw LoopError(-32, "read from a TLS stream that is not open")
        }
        onRead = callback
        reading = true
        if let ended = socketEnded {
            scheduleResume(ended)
            return
        }
        try socket.startReading { [self] event in socketRead(event) }
        if let ssl, let input, SSL_pending(ssl) > 0 || orchion_bio_pending(input) > 0 { scheduleResume(nil) }
    }

    private func scheduleResume(_ ended: ReadEvent?) {
        if resume == nil { resume = try? Timer(loop: socket.loop) }
        guard let resume else { return close(nil) }
        resume.start(after: 0) { [weak self] in
            guard let self, reading else { return }
            drain()
            if let ended {
                socketEnded = nil
                deliverEnd(ended)
            }
        }
    }

    public func stopReading() {
        reading = false
        socket.stopReading()
    }

    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, completion: ((LoopError?) -> Void)?) -> Bool {
        guard handshaken, let ssl, !socket.isClosing else {
            completion?(LoopError(-32, "write to a closed TLS stream"))
            return false
        }
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let chunk = min(bytes.count - offset, 1 << 30)
            let written = SSL_write(ssl, bytes.baseAddress.map { $0 + offset }, Int32(chunk))
            guard written > 0 else {
                flush(nil)
                completion?(LoopError(-71, "TLS write: \(TLSError.openSSL("refused"))"))
                return false
            }
            offset += Int(written)
        }
        return flush(completion)
    }

    public func shutdown(_ completion: ((LoopError?) -> Void)?) {
        if handshaken, let ssl {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            flush(nil)
        }
        socket.shutdown(completion)
    }

    public func close(_ completion: (() -> Void)?) {
        release()
        socket.close(completion)
    }

    public func closeAbruptly(_ completion: (() -> Void)?) {
        release()
        socket.closeAbruptly(completion)
    }

    private func release() {
        reading = false
        onRead = nil
        handshakeTimer?.close()
        handshakeTimer = nil
        resume?.close()
        resume = nil
        if let ssl { SSL_free(ssl) }
        ssl = nil
        input = nil
        output = nil
    }
}
