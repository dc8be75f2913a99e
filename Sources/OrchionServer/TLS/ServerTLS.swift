import OrchionLoop
import OrchionWire

/// TLS for the running server: the certificate served now, replaced by a
/// renewed one for new connections (open ones keep theirs), checked once at
/// start and then daily.
///
/// Threading: `prepare` blocks (call before the loop runs or on the thread
/// pool); the rest is loop thread only.
public final class ServerTLS {
    /// What `orchion up` and the log tell about the CA.
    public struct Summary: Sendable {
        /// The CA's public key hash (`sha256:<hex>`), for join commands.
        public let caHash: SPKIHash?
        /// The CA certificate file, for local clients (`--ca-cert`).
        public let caFile: String?
    }

    private let config: ServerConfig
    private var current: TLSServerContext
    private var served: ServerCertificate
    private var renewal: Timer?
    /// What the CA is, for `RunningServer`.
    public var summary: Summary { Summary(caHash: served.caHash, caFile: served.caFile) }
    /// The certificate chain served to new connections now (PEM).
    public var servedChainPEM: [UInt8] { served.chainPEM }
    /// The settings for `APIServer.start`.
    public func wireSettings(policy plaintextBeyondLoopback: Bool) -> WireTLS {
        WireTLS(plaintextBeyondLoopback: plaintextBeyondLoopback) { [weak self] in self?.current }
    }

    private init(config: ServerConfig, certificate: ServerCertificate, context: TLSServerContext) {
        self.config = config
        served = certificate
        current = context
    }

    /// Loads or makes the certificate `config` asks for: bring-your-own
    /// files, else the cluster CA's (made on first start). Blocking.
    public static func prepare(_ config: ServerConfig) throws -> ServerCertificate {
        if !config.tls.certificateFile.isEmpty {
            return try ClusterCA.load(certificateFile: config.tls.certificateFile, keyFile: config.tls.keyFile)
        }
        let names = SubjectNames.host(listenHost: config.listen.host, extra: config.tls.extraNames)
        return try ClusterCA.prepare(directory: config.tls.directory, names: names)
    }

    /// Serves `certificate` from now on; renews it daily when the server
    /// made it. Call on the loop thread.
    public static func start(loop: EventLoop, config: ServerConfig, certificate: ServerCertificate) throws -> ServerTLS
    {
        let tls = ServerTLS(config: config, certificate: certificate, context: try certificate.context())
        if certificate.renewInSeconds != nil {
            let timer = try Timer(loop: loop)
            tls.renewal = timer
            timer.start(after: 86_400_000, repeat: 86_400_000) { [weak tls] in tls?.checkRenewal(loop: loop) }
        }
        return tls
    }

    /// Renews the certificate on the thread pool when it is due (what the
    /// daily timer does); `then` runs on the loop thread afterwards with
    /// whether a new certificate is now served.
    public func checkRenewal(loop: EventLoop, then: ((Bool) -> Void)? = nil) {
        let config = self.config
        let work: @Sendable () -> Result<ServerCertificate, ClusterCAError> = {
            let names = SubjectNames.host(listenHost: config.listen.host, extra: config.tls.extraNames)
            do throws(ClusterCAError) {
                return .success(try ClusterCA.prepare(directory: config.tls.directory, names: names))
            } catch {
                return .failure(error)
            }
        }
        loop.queueWork(work) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error):
                ServerLog.error("TLS: the server certificate was not renewed: \(error)")
                then?(false)
            case .success(let next):
                guard next.chainPEM != served.chainPEM else { return then?(false) ?? () }
                do {
                    current = try next.context()
                    served = next
                    for note in next.notes { ServerLog.info("TLS: \(note)") }
                    ServerLog.info("TLS: new connections get the renewed certificate; open ones keep theirs")
                    then?(true)
                } catch {
                    ServerLog.error("TLS: the renewed certificate cannot be served: \(error)")
                    then?(false)
                }
            }
        }
    }

    /// Stops the renewal timer.
    public func close() {
        renewal?.close()
        renewal = nil
    }
}
