import COpenSSL
import OrchionWire

#if canImport(Glibc)
    import Glibc
#endif

/// The cluster CA and the server certificate it signs, kept in the TLS
/// directory (`tls.directory`, default `<state>/tls`):
///
/// - `ca.key` (0600) and `ca.crt`: an EC P-256 CA valid 10 years, made on
///   the first start;
/// - `server.key` (0600) and `server.crt` (the server certificate, then the
///   CA's, so that a joining agent can find the CA its pin names): EC P-256,
///   valid one year, with the host's names and addresses as subject
///   alternative names (`SubjectNames.host`); `server.names` records them.
///
/// `prepare` reissues the server certificate when it is missing, past two
/// thirds of its lifetime, not from this CA, or issued for other names.
/// A key file that group or others may read is refused with the fix.
/// Preparers of one directory (two servers starting at once, a renewal)
/// take turns on a lock of the directory, so the files stay one set.
///
/// Threading: `prepare` blocks (key generation, file reads and writes,
/// waiting for another preparer of the directory): call it off the loop.
public enum ClusterCA {
    /// The CA's lifetime: 10 years.
    public static let caLifetimeSeconds = 10 * 365 * 86_400
    /// A server certificate's lifetime: 1 year.
    public static let serverLifetimeSeconds = 365 * 86_400

    /// The CA and server certificate in `directory`, made or renewed as
    /// needed for `names`. `serverLifetime` is for tests.
    public static func prepare(
        directory: String, names: SubjectNames, serverLifetime: Int = serverLifetimeSeconds
    ) throws(ClusterCAError) -> ServerCertificate {
        try CertificateFiles.makeDirectory(directory)
        // One preparer at a time: the files are read, then made as a set.
        let lock = try CertificateFiles.lock(directory)
        defer { close(lock) }
        let caKeyPath = directory + "/ca.key"
        let caCertPath = directory + "/ca.crt"
        var notes: [String] = []
        let caKeyPEM = try CertificateFiles.read(caKeyPath, secret: true)
        let caCertPEM = try CertificateFiles.read(caCertPath, secret: false)
        let caKey: PrivateKey
        let caCert: Certificate
        if let caKeyPEM, let caCertPEM {
            guard let key = PrivateKey(pem: caKeyPEM) else {
                throw ClusterCAError(path: caKeyPath, "expected a PEM private key, found none that could be read")
            }
            guard let cert = Certificate(pem: caCertPEM) else {
                throw ClusterCAError(path: caCertPath, "expected a PEM certificate, found none that could be read")
            }
            guard cert.matches(key) else {
                throw ClusterCAError(path: caCertPath, "the certificate does not belong to the key in \(caKeyPath)")
            }
            caKey = key
            caCert = cert
        } else if caKeyPEM == nil && caCertPEM == nil {
            guard let key = PrivateKey.generate() else {
                throw ClusterCAError(path: caKeyPath, "cannot generate a key")
            }
            guard
                let cert = Certificate.make(
                    key: key, commonName: "Orchion cluster CA", issuer: nil, issuerKey: key,
                    lifetime: caLifetimeSeconds, isCA: true, names: nil)
            else { throw ClusterCAError(path: caCertPath, "cannot make the CA certificate") }
            try CertificateFiles.write(caKeyPath, key.pem, mode: 0o600)
            try CertificateFiles.write(caCertPath, cert.pem, mode: 0o644)
            notes.append("cluster CA created in \(directory)")
            caKey = key
            caCert = cert
        } else {
            let (present, missing) = caKeyPEM == nil ? (caCertPath, caKeyPath) : (caKeyPath, caCertPath)
            throw ClusterCAError(
                path: missing, "missing while \(present) exists: restore it, or remove both to make a new cluster CA")
        }
        guard let caHash = SPKIHash(certificatePEM: caCert.pem) else {
            throw ClusterCAError(path: caCertPath, "cannot hash its key")
        }

        let keyPath = directory + "/server.key"
        let certPath = directory + "/server.crt"
        let namesPath = directory + "/server.names"
        let wanted = names.extensionValue
        if let keyPEM = try CertificateFiles.read(keyPath, secret: true),
            let chainPEM = try CertificateFiles.read(certPath, secret: false),
            let recorded = try CertificateFiles.read(namesPath, secret: false),
            let key = PrivateKey(pem: keyPEM), let cert = Certificate(pem: chainPEM), cert.matches(key),
            cert.isSigned(by: caKey), String(decoding: recorded, as: UTF8.self) == wanted,
            let left = cert.secondsLeft, let lifetime = cert.lifetime, left > lifetime / 3
        {
            return ServerCertificate(
                chainPEM: chainPEM, keyPEM: keyPEM, caCertificatePEM: caCert.pem, caHash: caHash,
                caFile: caCertPath, renewInSeconds: left - lifetime / 3, notes: notes)
        }
        guard let key = PrivateKey.generate() else { throw ClusterCAError(path: keyPath, "cannot generate a key") }
        guard
            let cert = Certificate.make(
                key: key, commonName: names.dns.first ?? "orchion", issuer: caCert, issuerKey: caKey,
                lifetime: serverLifetime, isCA: false, names: wanted)
        else { throw ClusterCAError(path: certPath, "cannot make a server certificate for \(wanted)") }
        let chain = cert.pem + caCert.pem
        try CertificateFiles.write(keyPath, key.pem, mode: 0o600)
        try CertificateFiles.write(certPath, chain, mode: 0o644)
        try CertificateFiles.write(namesPath, Array(wanted.utf8), mode: 0o644)
        notes.append("server certificate issued for \(wanted), valid \(serverLifetime / 86_400) days")
        return ServerCertificate(
            chainPEM: chain, keyPEM: key.pem, caCertificatePEM: caCert.pem, caHash: caHash, caFile: caCertPath,
            renewInSeconds: serverLifetime - serverLifetime / 3, notes: notes)
    }

    /// A bring-your-own certificate chain and key (`tls.cert_file`,
    /// `tls.key_file`); the key file must be owner-only and the
    /// certificate valid now (not expired, not before its notBefore). The CA hash is
    /// that of the chain's last certificate when the chain has more than
    /// the leaf.
    public static func load(certificateFile: String, keyFile: String) throws(ClusterCAError) -> ServerCertificate {
        guard let chain = try CertificateFiles.read(certificateFile, secret: false) else {
            throw ClusterCAError(path: certificateFile, "no such file")
        }
        guard let keyPEM = try CertificateFiles.read(keyFile, secret: true) else {
            throw ClusterCAError(path: keyFile, "no such file")
        }
        let certificates = Certificate.all(pem: chain)
        guard let leaf = certificates.first else {
            throw ClusterCAError(path: certificateFile, "expected PEM certificates, found none that could be read")
        }
        guard let key = PrivateKey(pem: keyPEM), leaf.matches(key) else {
            throw ClusterCAError(
                path: keyFile, "expected the PEM private key of \(certificateFile)'s first certificate")
        }
        let top = certificates.count > 1 ? certificates.last : nil
        let left = leaf.secondsLeft ?? 0
        guard left > 0 else {
            let ago = left > -86_400 ? "less than a day ago" : "\(-left / 86_400) days ago"
            throw ClusterCAError(
                path: certificateFile, "the certificate expired \(ago), so every client would refuse it: renew it")
        }
        // Valid from its notBefore: one still in the future (found by
        // attack: accepted silently) is as useless to clients as an expired one.
        if let lifetime = leaf.lifetime, left > lifetime {
            let wait = left - lifetime
            throw ClusterCAError(
                path: certificateFile,
                "the certificate is not valid yet (for another \(wait < 86_400 ? "\(wait / 3600) hours" : "\(wait / 86_400) days")), "
                    + "so every client would refuse it: check this machine's clock, or the certificate's notBefore")
        }
        return ServerCertificate(
            chainPEM: chain, keyPEM: keyPEM, caCertificatePEM: top?.pem,
            caHash: top.flatMap { SPKIHash(certificatePEM: $0.pem) },
            caFile: nil, renewInSeconds: nil,
            notes: left < 30 * 86_400 ? ["\(certificateFile): the certificate expires in \(left / 86_400) days"] : [])
    }
}

/// A server certificate ready to serve, and what to say about it.
///
/// Threading: a value; safe anywhere.
public struct ServerCertificate: Sendable {
    /// The server's certificate then its chain, PEM.
    public let chainPEM: [UInt8]
    /// Its private key, PEM.
    public let keyPEM: [UInt8]
    /// The CA certificate, PEM, when known.
    public let caCertificatePEM: [UInt8]?
    /// The CA's public key hash, for join commands (`sha256:<hex>`).
    public let caHash: SPKIHash?
    /// The CA certificate's file, for local clients (`--ca-cert`).
    public let caFile: String?
    /// Seconds until the certificate should be renewed; nil when the
    /// server does not renew it (bring-your-own).
    public let renewInSeconds: Int?
    /// What was made or noticed, for the log.
    public let notes: [String]

    /// A TLS context serving this certificate.
    public func context() throws(TLSError) -> TLSServerContext {
        try TLSServerContext(certificateChainPEM: chainPEM, privateKeyPEM: keyPEM)
    }
}

/// An OpenSSL private key.
///
/// Threading: not shared; one thread at a time.
final class PrivateKey {
    let raw: OpaquePointer

    private init(raw: OpaquePointer) { self.raw = raw }

    init?(pem: [UInt8]) {
        guard
            let key = pem.withUnsafeBytes({
                orchion_read_key($0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
            })
        else { return nil }
        raw = key
    }

    static func generate() -> PrivateKey? { orchion_ec_p256().map { PrivateKey(raw: $0) } }

    var pem: [UInt8] { Self.drain(orchion_key_pem(raw)) }

    /// The bytes of a memory BIO, which is then freed.
    static func drain(_ bio: OpaquePointer?) -> [UInt8] {
        guard let bio else { return [] }
        defer { BIO_free(bio) }
        var data: UnsafeMutablePointer<CChar>?
        let count = orchion_bio_mem(bio, &data)
        guard count > 0, let data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: count))
    }

    deinit { EVP_PKEY_free(raw) }
}

/// An OpenSSL X.509 certificate.
///
/// Threading: not shared; one thread at a time.
final class Certificate {
    let raw: OpaquePointer

    private init(raw: OpaquePointer) { self.raw = raw }

    /// The first certificate in `pem`.
    init?(pem: [UInt8]) {
        guard
            let cert = pem.withUnsafeBytes({
                orchion_read_cert($0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
            })
        else { return nil }
        raw = cert
    }

    /// Every certificate in `pem`, in order.
    static func all(pem: [UInt8]) -> [Certificate] {
        let marker = Array("-----BEGIN CERTIFICATE-----".utf8)
        var starts: [Int] = []
        var index = 0
        while index + marker.count <= pem.count {
            if pem[index..<index + marker.count].elementsEqual(marker) {
                starts.append(index)
                index += marker.count
            } else {
                index += 1
            }
        }
        return starts.compactMap { Certificate(pem: Array(pem[$0...])) }
    }

    static func make(
        key: PrivateKey, commonName: String, issuer: Certificate?, issuerKey: PrivateKey, lifetime: Int, isCA: Bool,
        names: String?
    ) -> Certificate? {
        // Valid from an hour ago: a peer whose clock is a little behind still accepts it.
        orchion_make_cert(key.raw, commonName, issuer?.raw, issuerKey.raw, -3600, lifetime + 3600, isCA ? 1 : 0, names)
            .map { Certificate(raw: $0) }
    }

    var pem: [UInt8] { PrivateKey.drain(orchion_cert_pem(raw)) }

    func matches(_ key: PrivateKey) -> Bool { orchion_cert_matches_key(raw, key.raw) == 1 }

    func isSigned(by key: PrivateKey) -> Bool {
        let verified = X509_verify(raw, key.raw) == 1
        ERR_clear_error()
        return verified
    }

    var secondsLeft: Int? {
        var seconds: Int64 = 0
        return orchion_cert_seconds_left(raw, &seconds) == 1 ? Int(seconds) : nil
    }

    var lifetime: Int? {
        var seconds: Int64 = 0
        return orchion_cert_lifetime(raw, &seconds) == 1 ? Int(seconds) : nil
    }

    deinit { X509_free(raw) }
}
