import Foundation
import OrchionServer
import OrchionWire
import Synchronization
import TestSupport
import Testing

/// The cluster CA's files: made once, owner-only keys, reissued when due.
@Suite struct ClusterCATests {
    private func names(_ extra: String...) -> SubjectNames {
        var names = SubjectNames()
        for name in ["localhost", "127.0.0.1", "::1"] + extra { names.add(name) }
        return names
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func firstStartMakesTheCAWithOwnerOnlyKeysAndLaterStartsKeepIt() throws {
        let base = try Paths.temporaryDirectory("orchion-ca")
        defer { try? FileManager.default.removeItem(at: base) }
        let directory = base.appendingPathComponent("tls").path
        let first = try ClusterCA.prepare(directory: directory, names: names())
        #expect(try mode(directory + "/ca.key") == 0o600)
        #expect(try mode(directory + "/server.key") == 0o600)
        #expect(first.notes.contains { $0.contains("cluster CA created") })
        let caPEM = try #require(first.caCertificatePEM)
        #expect(SPKIHash(certificatePEM: caPEM) == first.caHash)
        #expect(first.caHash?.description.hasPrefix("sha256:") == true)
        _ = try first.context()

        let second = try ClusterCA.prepare(directory: directory, names: names())
        #expect(second.caHash == first.caHash)
        #expect(second.chainPEM == first.chainPEM, "a valid server certificate was reissued")
        #expect(second.notes.isEmpty)
    }

    @Test func newNamesOrAnAgingCertificateGetANewServerCertificateFromTheSameCA() throws {
        let base = try Paths.temporaryDirectory("orchion-ca")
        defer { try? FileManager.default.removeItem(at: base) }
        let directory = base.appendingPathComponent("tls").path
        // Valid 60 s after an hour's backdating: past two thirds of its life at once.
        let aging = try ClusterCA.prepare(directory: directory, names: names(), serverLifetime: 60)
        let renewed = try ClusterCA.prepare(directory: directory, names: names())
        #expect(renewed.chainPEM != aging.chainPEM)
        #expect(renewed.caHash == aging.caHash)
        let kept = try ClusterCA.prepare(directory: directory, names: names())
        #expect(kept.chainPEM == renewed.chainPEM)
        let renamed = try ClusterCA.prepare(directory: directory, names: names("orchion.lan"))
        #expect(renamed.chainPEM != kept.chainPEM)
        #expect(renamed.notes.contains { $0.contains("DNS:orchion.lan") })
    }

    @Test func serversPreparingOneDirectoryAtOnceShareOneCAAndCertificate() throws {
        let base = try Paths.temporaryDirectory("orchion-ca")
        defer { try? FileManager.default.removeItem(at: base) }
        let directory = base.appendingPathComponent("tls").path
        let names = names()
        let results = Mutex<[Result<ServerCertificate, ClusterCAError>]>([])
        // As two `orchion server`s started at once on one state directory do.
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            let result = Result { () throws(ClusterCAError) in try ClusterCA.prepare(directory: directory, names: names)
            }
            results.withLock { $0.append(result) }
        }
        let prepared = try results.withLock { try $0.map { try $0.get() } }
        #expect(Set(prepared.map(\.caHash)).count == 1, "each preparer made its own CA")
        let after = try ClusterCA.prepare(directory: directory, names: names)
        #expect(prepared.allSatisfy { $0.caHash == after.caHash && $0.chainPEM == after.chainPEM })
        #expect(after.notes.isEmpty, "the files left were not one CA with its server certificate")
    }

    /// Found by attack: an expired bring-your-own certificate was served
    /// (every client refused it) with only a note that it "expires in -1 days".
    @Test func anExpiredBroughtCertificateIsRefusedSayingSo() throws {
        let base = try Paths.temporaryDirectory("orchion-ca")
        defer { try? FileManager.default.removeItem(at: base) }
        let directory = base.appendingPathComponent("tls").path
        // Ended a minute ago.
        _ = try ClusterCA.prepare(directory: directory, names: names(), serverLifetime: -60)
        let error = #expect(throws: ClusterCAError.self) {
            try ClusterCA.load(certificateFile: directory + "/server.crt", keyFile: directory + "/server.key")
        }
        #expect(error?.message.contains("expired less than a day ago") == true, "\(String(describing: error))")
    }

    /// Found by attack: a brought certificate valid only from a later date
    /// was served, and every client refused it.
    @Test func aBroughtCertificateNotValidYetIsRefusedSayingSo() throws {
        let base = try Paths.temporaryDirectory("orchion-ca")
        defer { try? FileManager.default.removeItem(at: base) }
        let dir = base.path
        func openssl(_ arguments: [String]) throws {
            let result = try runCommand(["openssl"] + arguments)
            #expect(result.status == 0, "openssl \(arguments.first ?? ""): \(result.stderr)")
        }
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        try openssl(
            ["req", "-x509"] + newKey + ["-keyout", dir + "/ca.key", "-out", dir + "/ca.crt", "-subj", "/CN=ca"])
        try openssl(["req"] + newKey + ["-keyout", dir + "/s.key", "-out", dir + "/s.csr", "-subj", "/CN=localhost"])
        try "01\n".write(toFile: dir + "/serial", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/index.txt", atomically: true, encoding: .utf8)
        try """
        [ca]
        default_ca = d
        [d]
        database = \(dir)/index.txt
        new_certs_dir = \(dir)
        serial = \(dir)/serial
        default_md = sha256
        policy = p
        [p]
        commonName = supplied

        """.write(toFile: dir + "/ca.cnf", atomically: true, encoding: .utf8)
        try openssl([
            "ca", "-batch", "-config", dir + "/ca.cnf", "-cert", dir + "/ca.crt", "-keyfile", dir + "/ca.key", "-in",
            dir + "/s.csr", "-out", dir + "/s.crt", "-startdate", "20990101000000Z", "-enddate", "21000101000000Z",
            "-notext",
        ])
        chmod(dir + "/s.key", 0o600)
        let error = #expect(throws: ClusterCAError.self) {
            try ClusterCA.load(certificateFile: dir + "/s.crt", keyFile: dir + "/s.key")
        }
        #expect(error?.message.contains("not valid yet") == true, "\(String(describing: error))")
    }

    @Test func aKeyFileOthersMayReadIsRefusedWithTheFix() throws {
        let base = try Paths.temporaryDirectory("orchion-ca")
        defer { try? FileManager.default.removeItem(at: base) }
        let directory = base.appendingPathComponent("tls").path
        _ = try ClusterCA.prepare(directory: directory, names: names())
        chmod(directory + "/ca.key", 0o644)
        #expect {
            _ = try ClusterCA.prepare(directory: directory, names: names())
        } throws: { error in
            "\(error)".contains("chmod 600 \(directory)/ca.key") && "\(error)".contains("0644")
        }
    }
}
