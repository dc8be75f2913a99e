import OrchionLoop

/// What the server does about TLS, decided from `tls.mode`, the listen
/// address and `tls.allow_plaintext_beyond_loopback`:
///
/// - `auto` (the default) is TLS when the server listens beyond loopback,
///   plaintext on loopback;
/// - `on` is TLS always; `off` is plaintext always;
/// - with TLS on, plaintext is still served to loopback peers, and to
///   others only when explicitly allowed;
/// - plaintext listening beyond loopback (`off` there) is refused unless
///   explicitly allowed.
///
/// Threading: a value; safe anywhere.
public enum TLSPolicy: Sendable, Equatable {
    /// TLS (ClientHellos recognised by their first byte); plaintext too from
    /// loopback peers, and from any peer when `plaintextBeyondLoopback`.
    case tls(plaintextBeyondLoopback: Bool)
    /// Plaintext only.
    case plaintext

    /// Why a configuration was refused, and the key to change.
    public struct Refusal: Error, Sendable, Equatable {
        public let message: String
        public let key: String
    }

    /// The policy for `listen` and `tls`, or why it is refused.
    public static func decide(listen: SocketAddress, tls: ServerConfig.TLSSettings) -> Result<TLSPolicy, Refusal> {
        let loopback = ConfigUnits.isLoopback(listen.host)
        if tls.certificateFile.isEmpty != tls.keyFile.isEmpty {
            let (given, missing) =
                tls.keyFile.isEmpty ? ("tls.cert_file", "tls.key_file") : ("tls.key_file", "tls.cert_file")
            return .failure(Refusal(message: "\(given) is set: expected \(missing) with it, found none", key: missing))
        }
        switch tls.mode {
        case .on: return .success(.tls(plaintextBeyondLoopback: tls.allowPlaintextBeyondLoopback))
        case .auto where !loopback: return .success(.tls(plaintextBeyondLoopback: tls.allowPlaintextBeyondLoopback))
        case .auto: return .success(.plaintext)
        case .off:
            guard loopback || tls.allowPlaintextBeyondLoopback else {
                return .failure(
                    Refusal(
                        message:
                            "listening on \(listen) (beyond loopback) without TLS: expected tls.mode auto or on, or an explicit tls.allow_plaintext_beyond_loopback: true (--set tls.allow_plaintext_beyond_loopback=true) to send tokens and job data in clear text",
                        key: "tls.mode"))
            }
            return .success(.plaintext)
        }
    }
}
