import OrchionLoop

/// Orchion's API on one port: REST/JSON, SSE, `/healthz` and `/metrics`
/// over HTTP/1.1, gRPC (ControlService and AgentService) over HTTP/2.
public enum APIServer {
    /// Binds `address` and serves `control` (and `agent`, when given) on it,
    /// over TLS too when `tls` is given (see `WireServer`). Call on the loop
    /// thread.
    ///
    /// `metrics`, when given, answers `GET /metrics` (and HEAD) with the
    /// body it returns, as `text/plain; version=0.0.4` (the Prometheus text
    /// format); it is called on the loop thread, once per scrape. Like
    /// `/healthz` it needs no token unless `metricsRequireToken` is set,
    /// which asks for a client token as every other route does. Without
    /// `metrics`, `/metrics` is an unknown route like any other.
    ///
    /// `site`, when given, answers the paths it claims over HTTP/1.1
    /// without a token (the dashboard; see `PublicSite`).
    public static func start(
        loop: EventLoop, address: SocketAddress, limits: WireLimits = WireLimits(), tls: WireTLS? = nil,
        authenticator: Authenticator, control: any ControlServiceHandler, agent: (any AgentServiceHandler)? = nil,
        metrics: (@Sendable () -> [UInt8])? = nil, metricsRequireToken: Bool = false, site: (any PublicSite)? = nil
    ) throws(LoopError) -> WireServer {
        let gateway = RESTGateway(
            loop: loop, service: control, authenticator: authenticator, metrics: metrics,
            metricsRequireToken: metricsRequireToken, site: site)
        let services = GRPCServices(control: control, agent: agent)
        let failures = AuthFailureThrottle(loop: loop, policy: limits.authFailures)
        return try WireServer(
            loop: loop, address: address, limits: limits, tls: tls, http1: gateway.handle, http1Head: gateway.checkHead,
            http2: { socket, bytes in
                do {
                    _ = try HTTP2Connection(
                        socket: socket,
                        role: .server(accept: { connection, streamID in
                            GRPCServerCall(
                                connection: connection, streamID: streamID, services: services,
                                authenticator: authenticator, failures: failures)
                        }),
                        limits: limits, initialBytes: bytes)
                } catch {
                    socket.close()
                }
            }, authFailures: failures)
    }
}
