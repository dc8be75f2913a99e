import COpenSSL

/// A server's TLS settings and certificate: TLS 1.3, and 1.2 with ECDHE
/// and AEAD suites only, no renegotiation, no compression; ALPN offers
/// `h2` and `http/1.1`. Made from a PEM certificate chain (leaf first) and
/// its private key; a new one replaces the old for new connections while
/// open connections keep theirs (each holds a reference).
///
/// Threading: immutable once made; safe anywhere.
public final class TLSServerContext: @unchecked Sendable {
    let raw: OpaquePointer

    /// A context serving `chain` (PEM certificates, leaf first) with `key`
    /// (a PEM private key). Throws when either cannot be read or they do
    /// not belong together.
    public init(certificateChainPEM chain: [UInt8], privateKeyPEM key: [UInt8]) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = orchion_server_ctx() else { throw TLSError.openSSL("could not make a TLS server context") }
        let used = chain.withUnsafeBytes { chainBytes in
            key.withUnsafeBytes { keyBytes in
                orchion_ctx_use_pem(
                    ctx, chainBytes.baseAddress?.assumingMemoryBound(to: CChar.self), chainBytes.count,
                    keyBytes.baseAddress?.assumingMemoryBound(to: CChar.self), keyBytes.count)
            }
        }
        guard used == 1 else {
            SSL_CTX_free(ctx)
            throw TLSError(
                "expected a PEM certificate (leaf first, then its chain) and the PEM private key that belongs to it")
        }
        raw = ctx
    }

    deinit { SSL_CTX_free(raw) }
}

/// A client's TLS settings: the server's certificate is verified against
/// a CA certificate, or (`pinned`) against the certificate of the chain the
/// server sends whose public key hash is the pin; ALPN offers `h2`.
///
/// Threading: immutable once made; safe anywhere.
public final class TLSClientContext: @unchecked Sendable {
    let raw: OpaquePointer
    /// The CA public key hash the server's chain must contain, when pinned.
    public let pin: SPKIHash?

    /// A context that trusts the CA certificates in `caPEM` (PEM).
    public init(trustingPEM caPEM: [UInt8]) throws(TLSError) {
        ERR_clear_error()
        let made = caPEM.withUnsafeBytes {
            orchion_client_ctx($0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
        }
        guard let made else {
            throw TLSError("expected one or more PEM CA certificates; found none that could be read")
        }
        raw = made
        pin = nil
    }

    /// A context that trusts the one certificate of the server's chain whose
    /// SubjectPublicKeyInfo SHA-256 is `pin` (the kubeadm discovery hash).
    public init(pinned pin: SPKIHash) throws(TLSError) {
        ERR_clear_error()
        guard let made = orchion_client_ctx(nil, 0) else {
            throw TLSError.openSSL("could not make a TLS client context")
        }
        raw = made
        self.pin = pin
    }

    deinit { SSL_CTX_free(raw) }
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo, written
/// `sha256:<64 hex digits>` (kubeadm's discovery-token-ca-cert-hash form).
///
/// Threading: a value; safe anywhere.
public struct SPKIHash: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Reads `sha256:<hex>` (the prefix may be left out); nil when it is not
    /// 64 hex digits.
    public init?(_ text: String) {
        var hex = Substring(text)
        if hex.hasPrefix("sha256:") { hex = hex.dropFirst(7) }
        // Byte by byte: any text at all gets an answer (no sign, no
        // multi-byte character, no grapheme of two bytes walks past the end).
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        for pair in stride(from: 0, to: 64, by: 2) {
            guard let high = value(digits[pair]), let low = value(digits[pair + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    /// The hash of the first certificate in `pem`, or nil when there is none.
    public init?(certificatePEM pem: [UInt8]) {
        let cert = pem.withUnsafeBytes {
            orchion_read_cert($0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
        }
        guard let cert else { return nil }
        defer { X509_free(cert) }
        guard let hash = SPKIHash(cert) else { return nil }
        self = hash
    }

    init?(_ cert: OpaquePointer) {
        var digest = [UInt8](repeating: 0, count: 32)
        guard orchion_spki_sha256(cert, &digest) == 1 else { return nil }
        bytes = digest
    }

    public var description: String {
        "sha256:" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
