import CNGHTTP2
import OrchionLoop

/// One client-side gRPC call on one HTTP/2 stream: sends framed request
/// messages, parses response messages, and turns the response headers and
/// trailers into a status.
///
/// Threading: loop thread only.
final class GRPCClientCall: HTTP2StreamHandler {
    private unowned let connection: HTTP2Connection
    let body = OutboundBody()
    private(set) var streamID: Int32 = 0
    private var reader: MessageReader
    private let responses: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private var headers: [(String, String)] = []
    private var sawHeaders = false
    private var failure: RPCError?
    private var done = false

    init(connection: HTTP2Connection, responses: AsyncThrowingStream<[UInt8], any Error>.Continuation) {
        self.connection = connection
        self.responses = responses
        reader = MessageReader(maxMessageBytes: connection.limits.maxBodyBytes)
    }

    /// Opens the stream; false when the connection cannot take it.
    func start(_ requestHeaders: [(String, String)]) -> Bool {
        guard let id = connection.submitRequest(requestHeaders, body: body, handler: self) else { return false }
        streamID = id
        return true
    }

    /// Queues one request message.
    func send(_ message: [UInt8]) throws(RPCError) {
        guard !done, !body.ended else { throw RPCError(.failedPrecondition, "the call's requests are already closed") }
        body.append(GRPCFraming.frame(message))
        resume()
    }

    /// Ends the request side (END_STREAM after what is queued).
    func closeRequests() {
        guard !body.ended else { return }
        body.end()
        resume()
    }

    private func resume() {
        guard let session = connection.session, streamID > 0 else { return }
        nghttp2_session_resume_data(session, streamID)
        connection.flush()
    }

    /// Abandons the call (RST_STREAM CANCEL).
    func cancel() {
        guard !done else { return }
        finish(RPCError(.cancelled, "cancelled by the client"))
        connection.reset(streamID)
    }

    // MARK: HTTP2StreamHandler

    func header(_ name: String, _ value: String) { headers.append((name, value)) }

    func headersEnded() {
        defer { sawHeaders = true }
        guard !sawHeaders else { return }
        let status = value(":status") ?? "?"
        if status != "200" {
            failure = RPCError(.unavailable, "HTTP status \(status): expected 200")
        } else if let type = value("content-type"), !type.hasPrefix("application/grpc") {
            failure = RPCError(.internal, "content-type \(type): expected application/grpc")
        }
    }

    func data(_ bytes: UnsafeRawBufferPointer) {
        guard !done else { return }
        do throws(RPCError) {
            for message in try reader.append(bytes) { responses.yield(message) }
        } catch {
            cancel()
            finish(error)
        }
    }

    func endOfInput() {
        if let failure { return finish(failure) }
        guard let code = value("grpc-status").flatMap(Int.init) else {
            return finish(RPCError(.internal, "the stream ended without grpc-status"))
        }
        guard code != 0 else { return finish(nil) }
        let message = percentDecoded(value("grpc-message") ?? "", plusIsSpace: false)
        finish(RPCError(RPCError.Code(rawValue: code) ?? .unknown, message))
    }

    func streamClosed() {
        finish(RPCError(.unavailable, "the stream closed before its status arrived"))
    }

    private func value(_ name: String) -> String? { headers.last { $0.0 == name }?.1 }

    private func finish(_ error: RPCError?) {
        guard !done else { return }
        done = true
        if let error { responses.finish(throwing: error) } else { responses.finish() }
    }
}
