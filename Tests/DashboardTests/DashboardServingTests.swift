import ClusterTestSupport
import Foundation
import TestSupport
import Testing

/// The dashboard from a real `orchion server`, read with curl.
@Suite(.serialized) struct DashboardServingTests {
    /// `curl -s -D - -o FILE` with `arguments`: the status, the headers
    /// (names lower-cased) and the body file.
    func fetch(_ url: String, _ arguments: [String] = [], in directory: URL) throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        let file = directory.appendingPathComponent("body-\(UUID().uuidString)")
        let result = try runCommand(["curl", "-s", "-D", "-", "-o", file.path] + arguments + [url], timeout: 20)
        guard result.status == 0 else { throw HarnessError("curl \(url): exit \(result.status) \(result.stderr)") }
        var lines = result.stdout.split(separator: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw HarnessError("no status line from \(url): \(result.stdout)") }
        lines.removeFirst()
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return (status, headers, (try? Data(contentsOf: file)) ?? Data())
    }

    @Test func thePageAndItsAssetsComeFromTheAPIPortWithCachingPolicyAndGzip() throws {
        let server = try ServerProcess()
        defer { server.remove() }
        let base = "http://127.0.0.1:\(server.port)"
        let work = server.directory
        let index = try fetch("\(base)/", in: work)
        #expect(index.status == 200)
        #expect(index.headers["cache-control"] == "no-cache")
        #expect(index.headers["content-security-policy"]?.hasPrefix("default-src 'self'; script-src 'self';") == true)
        let html = String(decoding: index.body, as: UTF8.self)
        let script = try #require(html.split(separator: "\"").first { $0.hasPrefix("/assets/") && $0.hasSuffix(".js") })
        let plain = try fetch("\(base)\(script)", in: work)
        #expect(plain.status == 200)
        #expect(plain.headers["cache-control"] == "public, max-age=31536000, immutable")
        #expect(plain.headers["content-type"] == "text/javascript; charset=utf-8")
        #expect(plain.headers["content-encoding"] == nil)
        // --compressed asks for gzip and inflates it: the same bytes, fewer on the wire.
        let gzipped = try fetch("\(base)\(script)", ["--compressed"], in: work)
        #expect(gzipped.headers["content-encoding"] == "gzip")
        #expect(gzipped.body == plain.body)
        let wire = try #require(Int(gzipped.headers["content-length"] ?? ""))
        #expect(wire * 2 < plain.body.count, "gzip: \(wire) bytes for \(plain.body.count)")
        // Revalidation of the index.
        let etag = try #require(index.headers["etag"])
        #expect(try fetch("\(base)/", ["-H", "If-None-Match: \(etag)"], in: work).status == 304)
        // HEAD: the head, no body.
        let head = try fetch("\(base)/", ["-I"], in: work)
        #expect(head.status == 200 && head.headers["content-length"] == "\(index.body.count)")
    }

    @Test func unknownAssetsAre404AndTheAPIStillNeedsItsToken() throws {
        let server = try ServerProcess()
        defer { server.remove() }
        let base = "http://127.0.0.1:\(server.port)"
        let work = server.directory
        #expect(try fetch("\(base)/assets/main-NOSUCHFILE.js", in: work).status == 404)
        #expect(try fetch("\(base)/", ["-X", "POST", "-d", "{}"], in: work).status == 405)
        #expect(try fetch("\(base)/v1/nodes", in: work).status == 401)
        #expect(try fetch("\(base)/elsewhere", in: work).status == 401, "only the site's paths are open")
        let nodes = try fetch(
            "\(base)/v1/nodes", ["-H", "Authorization: Bearer \(ServerProcess.clientToken)"], in: work)
        #expect(nodes.status == 200)
        #expect(nodes.headers["content-type"] == "application/json")
        #expect(try fetch("\(base)/healthz", in: work).status == 200)
    }
}
