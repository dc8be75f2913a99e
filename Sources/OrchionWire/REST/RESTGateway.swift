import OrchionCore
import OrchionLoop
import OrchionProto
import SwiftProtobuf

/// The REST/JSON face of `ControlServiceHandler`: routes, protobuf's
/// canonical JSON mapping both ways, bearer-token auth, JSON errors, and
/// Server-Sent Events for the streaming calls. See control.proto for the routes.
///
/// Threading: `handle` is called on the loop thread; calls run as tasks on the loop.
public final class RESTGateway: Sendable {
    private let loop: EventLoop
    private let service: any ControlServiceHandler
    private let authenticator: Authenticator
    private let cache: LoopBound<EncodedResponseCache>
    private let metrics: (@Sendable () -> [UInt8])?
    private let metricsRequireToken: Bool
    private let site: (any PublicSite)?

    /// Creates the gateway. Call on the loop thread. `metrics` answers
    /// `GET /metrics` (see `APIServer.start`); it is called on the loop thread.
    /// `site` answers the paths it claims, without a token (the dashboard).
    public init(
        loop: EventLoop, service: any ControlServiceHandler, authenticator: Authenticator,
        metrics: (@Sendable () -> [UInt8])? = nil, metricsRequireToken: Bool = false, site: (any PublicSite)? = nil
    ) {
        self.loop = loop
        self.service = ScopedControlService.guarding(service)
        self.authenticator = authenticator
        self.metrics = metrics
        self.metricsRequireToken = metricsRequireToken
        self.site = site
        cache = LoopBound(EncodedResponseCache(), loop: loop)
    }

    /// Checks a request's head before its body is read: every route but
    /// `/healthz` (and `/metrics`, unless it requires a token) needs a
    /// client token, so a request without one is answered 401 (403 for the
    /// agent join token) before it can make the server buffer a body;
    /// `handle` authenticates again when the request runs (it may have
    /// waited behind others while its token was revoked). The site's paths
    /// need no token, and
    /// take GET and HEAD only (405 before any body is read).
    public func checkHead(_ method: String, _ target: String, _ headers: [(name: String, value: String)])
        -> HTTPHeadVerdict
    {
        if Self.isHealth(target) || isOpenMetrics(target) { return .proceed }
        if let site, site.serves(target) {
            // Read-only files: anything else is refused before a body is read.
            guard method == "GET" || method == "HEAD" else {
                return .answer(httpResponse(for: MethodNotAllowed(method: method, allowed: ["GET", "HEAD"])))
            }
            return .proceed
        }
        let authorization = headers.first { asciiCaseInsensitiveEqual($0.name, "Authorization") }?.value
        switch authenticator.check(authorization) {
        case .success(let principal):
            guard case .client = principal else { return .answer(Self.refusal(Self.agentRefused)) }
            return .proceed
        case .failure(let failure):
            // A presented token refused: slowed down when its peer keeps failing.
            return failure.isGuess ? .refuse(Self.refusal(failure.rpcError)) : .answer(Self.refusal(failure.rpcError))
        }
    }

    /// Answers one request. Authenticates it unless `checkHead` already did.
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        if Self.isHealth(request.target) {
            return responder.send(.json(200, Array("{\"status\":\"SERVING\"}".utf8)))
        }
        if isOpenMetrics(request.target) { return serveMetrics(request, responder) }
        if let site, site.serves(request.target) {
            guard request.method == "GET" || request.method == "HEAD" else {
                return responder.send(
                    httpResponse(for: MethodNotAllowed(method: request.method, allowed: ["GET", "HEAD"])))
            }
            return responder.send(site.answer(request))
        }
        let context: CallContext
        do throws(RPCError) {
            // Authenticated again even when the head check did: a request may
            // wait behind others on its connection (pipelining, a stream),
            // and a token revoked meanwhile must not act (found by attack).
            let authorization = request.header("Authorization")
            let principal = try authorize(authorization)
            context = CallContext(
                principal: principal, stillAuthorized: authenticator.stillAuthorizes(authorization, as: principal))
        } catch {
            return responder.send(Self.refusal(error))
        }
        if metrics != nil && Self.isPath(request.target, "/metrics") {
            do throws(RPCError) {
                try ControlScopes.check("Metrics", context.principal)
            } catch {
                return responder.send(httpResponse(for: error))
            }
            return serveMetrics(request, responder)
        }
        do {
            try route(request, path: try request.strictPath(), context: context, responder)
        } catch {
            responder.send(httpResponse(for: error))
        }
    }

    /// Whether the target's path is exactly `/healthz` (as sent, no escapes).
    private static func isHealth(_ target: String) -> Bool { isPath(target, "/healthz") }

    /// Whether the target is `/metrics` served without a token.
    private func isOpenMetrics(_ target: String) -> Bool {
        metrics != nil && !metricsRequireToken && Self.isPath(target, "/metrics")
    }

    /// Whether the target's path is exactly `path` (as sent, no escapes),
    /// with or without a query.
    private static func isPath(_ target: String, _ path: String) -> Bool {
        let utf8 = target.utf8
        return utf8.starts(with: path.utf8)
            && (utf8.count == path.utf8.count || utf8.dropFirst(path.utf8.count).first == UInt8(ascii: "?"))
    }

    /// Answers `/metrics` (GET or HEAD) with the provider's text.
    private func serveMetrics(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let metrics else { return responder.send(httpResponse(for: notFound(request))) }
        guard request.method == "GET" || request.method == "HEAD" else {
            return responder.send(
                httpResponse(for: MethodNotAllowed(method: request.method, allowed: ["GET", "HEAD"])))
        }
        responder.send(
            HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: metrics()))
    }

    /// The client principal for an Authorization value, or the error to answer.
    private func authorize(_ authorization: String?) throws(RPCError) -> Principal {
        let principal = try authenticator.authenticate(authorization)
        guard case .client = principal else { throw Self.agentRefused }
        return principal
    }

    private static let agentRefused = RPCError(
        .permissionDenied, "the agent join token and node credentials cannot call the control API")

    private static func refusal(_ error: RPCError) -> HTTPResponse {
        var response = error.httpResponse
        if error.code == .unauthenticated { response.headers.append(("WWW-Authenticate", "Bearer")) }
        return response
    }

    private func route(_ request: HTTPRequest, path: [Substring], context: CallContext, _ responder: HTTPResponder)
        throws
    {
        let parts = path
        guard parts.count >= 3, parts[0].isEmpty, parts[1] == "v1" else { throw notFound(request) }
        let (resource, id, verb) = Self.split(parts)
        let service = self.service
        switch (resource, id, verb, parts.count) {
        case ("nodes", nil, nil, 3):
            try allow(request, "GET")
            let message = try QueryDecoder.decode(Orchion_V1_ListNodesRequest.self, items: request.queryItems())
            unary(request, responder) { try await service.listNodes(message, context: context) }
        case ("nodes", let id?, nil, 4):
            try allow(request, "GET")
            unary(request, responder) { try await service.getNode(.with { $0.id = id }, context: context) }
        case ("nodes", let id?, "drain", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.drainNode(.with { $0.id = id }, context: context) }
        case ("nodes", let id?, "cordon", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.cordonNode(.with { $0.id = id }, context: context) }
        case ("nodes", let id?, "uncordon", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.uncordonNode(.with { $0.id = id }, context: context) }
        case ("nodes", let id?, "undrain", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.undrainNode(.with { $0.id = id }, context: context) }
        case ("nodes", let id?, "remove", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.removeNode(.with { $0.id = id }, context: context) }
        case ("nodes", let id?, "admit", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.admitNode(.with { $0.id = id }, context: context) }
        case ("jobs:batch", nil, nil, 3):
            try allow(request, "POST")
            guard !request.body.isEmpty else {
                throw RPCError(.invalidArgument, "expected a SubmitJobsRequest JSON body, found none")
            }
            try Self.requireJSON(request)
            let message = try Self.decode(Orchion_V1_SubmitJobsRequest.self, body: request.body)
            unary(request, responder) { try await service.submitJobs(message, context: context) }
        case ("tokens", nil, nil, 3) where request.method == "POST":
            try Self.requireJSON(request)
            let message = try Self.decode(Orchion_V1_CreateTokenRequest.self, body: request.body)
            unary(request, responder) { try await service.createToken(message, context: context) }
        case ("tokens", nil, nil, 3):
            try allow(request, "GET", "POST")
            unary(request, responder) { try await service.listTokens(Orchion_V1_ListTokensRequest(), context: context) }
        case ("tokens", let name?, "revoke", 4):
            try allow(request, "POST")
            unary(request, responder) { try await service.revokeToken(.with { $0.name = name }, context: context) }
        case ("jobs", nil, nil, 3) where request.method == "POST":
            guard !request.body.isEmpty else {
                throw RPCError(.invalidArgument, "expected a SubmitJobRequest JSON body, found none")
            }
            try Self.requireJSON(request)
            let message = try Self.decode(Orchion_V1_SubmitJobRequest.self, body: request.body)
            unary(request, responder) { try await service.submitJob(message, context: context) }
        case ("jobs", nil, nil, 3):
            try allow(request, "GET", "POST")
            let message = try QueryDecoder.decode(Orchion_V1_ListJobsRequest.self, items: request.queryItems())
            unary(request, responder) { try await service.listJobs(message, context: context) }
        case ("jobs", let id?, nil, 4):
            try allow(request, "GET")
            unary(request, responder) { try await service.getJob(.with { $0.id = id }, context: context) }
        case ("jobs", let id?, "cancel", 4):
            try allow(request, "POST")
            var message =
                request.body.isEmpty
                ? Orchion_V1_CancelJobRequest() : try Self.decode(Orchion_V1_CancelJobRequest.self, body: request.body)
            message.id = id
            unary(request, responder) { [message] in try await service.cancelJob(message, context: context) }
        case ("jobs", let id?, nil, 5) where parts[4] == "logs":
            try allow(request, "GET")
            var message = try QueryDecoder.decode(Orchion_V1_FollowLogsRequest.self, items: request.queryItems())
            message.jobID = id
            events(responder, event: "log") { [message] stream in
                try await service.followLogs(message, context: context, stream: stream)
            }
        case ("events", nil, nil, 3):
            try allow(request, "GET")
            let message = try QueryDecoder.decode(Orchion_V1_WatchEventsRequest.self, items: request.queryItems())
            events(responder, event: "job") { stream in
                try await service.watchEvents(message, context: context, stream: stream)
            }
        case ("plugins", nil, nil, 3):
            try allow(request, "GET")
            unary(request, responder) {
                try await service.listPlugins(Orchion_V1_ListPluginsRequest(), context: context)
            }
        case ("scheduler", nil, nil, 3) where request.method == "POST":
            try Self.requireJSON(request)
            let message = try Self.decode(Orchion_V1_SetSchedulerRequest.self, body: request.body)
            unary(request, responder) { try await service.setScheduler(message, context: context) }
        case ("scheduler", nil, nil, 3):
            try allow(request, "GET", "POST")
            unary(request, responder) {
                try await service.getScheduler(Orchion_V1_GetSchedulerRequest(), context: context)
            }
        default:
            throw notFound(request)
        }
    }

    /// `/v1/<resource>/<id>[:verb]/...` → resource, id, verb.
    private static func split(_ parts: [Substring]) -> (Substring, String?, String?) {
        guard parts.count >= 4 else { return (parts[2], nil, nil) }
        let segment = parts[3]
        if let colon = segment.lastIndex(of: ":") {
            return (parts[2], String(segment[..<colon]), String(segment[segment.index(after: colon)...]))
        }
        return (parts[2], segment.isEmpty ? nil : String(segment), nil)
    }

    /// Names the path as sent (escapes kept: `/v1%2Fnodes` is not `/v1/nodes`).
    private func notFound(_ request: HTTPRequest) -> RPCError {
        RPCError(.notFound, "no route for \(request.target.prefix { $0 != "?" })")
    }

    private func allow(_ request: HTTPRequest, _ methods: String...) throws {
        guard methods.contains(request.method) else {
            throw MethodNotAllowed(method: request.method, allowed: methods)
        }
    }

    /// Bodies are JSON. Also accepted: no Content-Type, and curl's default
    /// for `-d` (`application/x-www-form-urlencoded`), so `curl -d '{…}'` works.
    private static func requireJSON(_ request: HTTPRequest) throws {
        let accepted = ["application/json", "application/x-www-form-urlencoded"]
        if let type = request.header("Content-Type"), !accepted.contains(where: type.lowercased().hasPrefix) {
            throw RPCError(.invalidArgument, "expected Content-Type application/json, found \(type)")
        }
    }

    private static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, body: [UInt8]) throws -> M {
        do {
            return try M(jsonUTF8Bytes: body)
        } catch {
            throw RPCError(.invalidArgument, "invalid JSON for \(M.protoMessageName): \(error)")
        }
    }

    // MARK: Calls

    private func unary<Reply: SwiftProtobuf.Message & Equatable>(
        _ request: HTTPRequest, _ responder: HTTPResponder, _ call: @escaping @Sendable () async throws -> Reply
    ) {
        let bound = LoopBound(responder, loop: loop)
        let cache = self.cache
        let key = request.target
        let task = Task(executorPreference: loop) {
            let response: HTTPResponse
            do {
                let reply = try await call()
                response = .json(200, try cache.wrapped.json(for: key, reply))
            } catch {
                response = httpResponse(for: error)
            }
            bound.wrapped.send(response)
        }
        responder.onCancel = { task.cancel() }
    }

    /// Runs a server-streaming call as Server-Sent Events: each message is an
    /// event named `event` carrying its JSON. The stream starts with the first
    /// message, so an early error is a plain JSON error; a later one ends the
    /// stream with an `error` event; a call that ends without a message
    /// answers an empty `text/event-stream`.
    private func events<Message: SwiftProtobuf.Message>(
        _ responder: HTTPResponder, event: String,
        _ call: @escaping @Sendable (ResponseStream<Message>) async throws -> Void
    ) {
        responder.streams = true
        let state = LoopBound(EventState(responder), loop: loop)
        let stream = ResponseStream<Message> { message in
            let json: [UInt8] = try message.jsonUTF8Bytes()
            try await state.wrapped.send(event: event, data: String(decoding: json, as: UTF8.self))
        }
        let task = Task(executorPreference: loop) {
            do {
                try await call(stream)
                state.wrapped.finish(error: nil)
            } catch {
                state.wrapped.finish(error: RPCError.from(error))
            }
        }
        responder.onCancel = { state.wrapped.cancel(task) }
    }
}

/// A method the route does not accept: 405 with an Allow header.
private struct MethodNotAllowed: Error {
    let method: String
    let allowed: [String]
}

/// The HTTP answer for an error thrown while routing or calling.
private func httpResponse(for error: any Error) -> HTTPResponse {
    guard let error = error as? MethodNotAllowed else { return RPCError.from(error).httpResponse }
    var response = RPCError.json(
        code: "INVALID_ARGUMENT",
        message: "method \(error.method) not allowed: expected \(error.allowed.joined(separator: " or "))", status: 405)
    response.headers.append(("Allow", error.allowed.joined(separator: ", ")))
    return response
}

/// The state of one SSE call, on the loop thread.
private final class EventState {
    private let responder: HTTPResponder
    private var stream: EventStream?
    private var waiter: CheckedContinuation<Void, Never>?
    private var cancelled = false

    init(_ responder: HTTPResponder) { self.responder = responder }

    func send(event: String, data: String) async throws {
        if cancelled { throw CancellationError() }
        let stream = self.stream ?? responder.startEventStream()
        self.stream = stream
        guard !stream.send(event: event, data: data) else { return }
        await withCheckedContinuation { continuation in
            waiter = continuation
            stream.onWritable = { [weak self] in self?.wake() }
        }
        if cancelled { throw CancellationError() }
    }

    private func wake() {
        let waiter = self.waiter
        self.waiter = nil
        waiter?.resume()
    }

    func finish(error: RPCError?) {
        guard !cancelled else { return }
        guard let stream else {
            // Nothing was streamed: an error is a plain JSON error with its
            // status; success is an empty event stream, still text/event-stream.
            if let error { return responder.send(error.httpResponse) }
            return responder.startEventStream().finish()
        }
        if let error {
            stream.send(
                event: "error",
                data: "{\"code\":\(jsonQuoted(error.code.name)),\"message\":\(jsonQuoted(error.message))}")
        }
        stream.finish()
    }

    func cancel(_ task: Task<Void, Never>) {
        cancelled = true
        task.cancel()
        wake()
    }
}
