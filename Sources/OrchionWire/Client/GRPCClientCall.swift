import CNGHTTP2
import OrchionLoop

/// One client-side gRPC call on one HTTP/2 stream: sends framed request
/// messages, parses response messages, and turns the response headers and
/// trailers into a status. A sender waits while more than
/// `HTTP2Limits.streamSendHighWatermark` request bytes are queued; response
/// bytes are given back to the server's window as they are parsed.
///
/// Threading: loop thread only.
final class GRPCClientCall: HTTP2StreamHandler {
    private weak var connection: HTTP2Connection?
    private let limits: WireLimits
    let body = OutboundBody()
    private(set) var streamID: Int32 = 0
    private var reader: MessageReader
    private let responses: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private var headers: HeaderFields
    private var sawHeaders = false
    private var failure: RPCError?
    private var done = false
    private var outcome: RPCError?
    private var senders: [(Result<Void, RPCError>) -> Void] = []

    init(connection: HTTP2Connection, responses: AsyncThrowingStream<[UInt8], any Error>.Continuation) {
        self.connection = connection
        self.responses = responses
        limits = connection.limits
        headers = HeaderFields(limit: connection.limits.maxHeaderBytes)
        reader = MessageReader(maxMessageBytes: connection.limits.maxBodyBytes)
        body.onDrained = { [unowned self] in wakeSenders(.success(())) }
    }

    /// Opens the stream; false when the connection cannot take it.
    func start(_ requestHeaders: [(String, String)]) -> Bool {
        guard let id = connection?.submitRequest(requestHeaders, body: body, handler: self) else { return false }
        streamID = id
        return true
    }

    /// Queues one request message; `ready` runs once the caller may send the
    /// next one (at once while under the high-water mark, else when drained).
    func send(_ message: [UInt8], whenReady ready: @escaping (Result<Void, RPCError>) -> Void) {
        guard !done, !body.ended else {
            return ready(.failure(outcome ?? RPCError(.failedPrecondition, "the call's requests are already closed")))
        }
        guard let framed = GRPCFraming.frame(message) else {
            return ready(.failure(RPCError(.resourceExhausted, "a message of \(message.count) bytes cannot be framed")))
        }
        body.append(framed)
        resume()
        if body.queued <= limits.http2.streamSendHighWatermark || done {
            ready(done ? .failure(outcome ?? RPCError(.unavailable, "the call ended")) : .success(()))
        } else {
            senders.append(ready)
        }
    }

    /// Ends the request side (END_STREAM after what is queued).
    func closeRequests() {
        guard !body.ended else { return }
        body.end()
        resume()
    }

    private func resume() {
        guard let connection, let session = connection.session, streamID > 0, !done else { return }
        nghttp2_session_resume_data(session, streamID)
        connection.flush()
    }

    private func wakeSenders(_ result: Result<Void, RPCError>) {
        let waiting = senders
        senders = []
        for sender in waiting { sender(result) }
    }

    /// Abandons the call (RST_STREAM CANCEL).
    func cancel() {
        guard !done else { return }
        finish(RPCError(.cancelled, "cancelled by the client"))
        connection?.reset(streamID)
    }

    // MARK: HTTP2StreamHandler

    func header(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        headers.add(name: name, value: value)
    }

    func headersEnded() {
        defer { sawHeaders = true }
        guard !sawHeaders else { return }
        let status = headers.first(":status") ?? "?"
        if status != "200" {
            failure = RPCError(.unavailable, "HTTP status \(status): expected 200")
        } else if let type = headers.first("content-type"), !type.hasPrefix("application/grpc") {
            failure = RPCError(.internal, "content-type \(type): expected application/grpc")
        }
    }

    func data(_ bytes: UnsafeRawBufferPointer) {
        connection?.consume(streamID, bytes.count)
        guard !done else { return }
        do throws(RPCError) {
            for message in try reader.append(bytes) { responses.yield(message) }
        } catch {
            finish(error)
            connection?.reset(streamID)
        }
    }

    func endOfInput() {
        if let failure { return finish(failure) }
        guard let code = headers.last("grpc-status").flatMap(Int.init) else {
            return finish(RPCError(.internal, "the stream ended without grpc-status"))
        }
        guard code != 0 else { return finish(nil) }
        let message = percentDecoded(headers.last("grpc-message") ?? "", plusIsSpace: false)
        finish(RPCError(RPCError.Code(rawValue: code) ?? .unknown, message))
    }

    func streamClosed() {
        finish(RPCError(.unavailable, "the stream closed before its status arrived"))
    }

    var unsentBytes: Int { body.queued }

    var bufferedInboundBytes: Int { reader.bufferedBytes }

    func checkTimeouts(now: ContinuousClock.Instant) {
        guard !done, body.queued > 0, now - body.lastProgress > .milliseconds(limits.writeTimeoutMillis)
        else { return }
        finish(RPCError(.unavailable, "the server took no request bytes for \(limits.writeTimeoutMillis) ms"))
        connection?.reset(streamID)
    }

    private func finish(_ error: RPCError?) {
        guard !done else { return }
        done = true
        outcome = error ?? RPCError(.unavailable, "the call ended")
        if let error { responses.finish(throwing: error) } else { responses.finish() }
        wakeSenders(.failure(outcome ?? RPCError(.unavailable, "the call ended")))
    }
}
