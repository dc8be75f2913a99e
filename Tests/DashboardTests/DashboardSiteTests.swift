import OrchionDashboard
import OrchionWire
import Testing

/// The site's answers, straight from `DashboardSite` over the embedded files.
@Suite struct DashboardSiteTests {
    let site = DashboardSite()

    func get(_ target: String, _ headers: [(name: String, value: String)] = []) -> HTTPResponse {
        site.answer(HTTPRequest(method: "GET", target: target, headers: headers, body: [], keepAlive: true))
    }

    func header(_ response: HTTPResponse, _ name: String) -> String? {
        response.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    @Test func theIndexNamesEmbeddedHashedAssetsAndIsRevalidated() throws {
        let index = get("/")
        #expect(index.status == 200)
        #expect(header(index, "Content-Type") == "text/html; charset=utf-8")
        #expect(header(index, "Cache-Control") == "no-cache")
        #expect(get("/index.html").body == index.body)
        let html = String(decoding: index.body, as: UTF8.self)
        let referenced = html.split(separator: "\"").filter { $0.hasPrefix("/assets/") }.map(String.init)
        #expect(referenced.count == 2, "one script and one style sheet: \(html)")
        for path in referenced {
            #expect(path.range(of: #"^/assets/main-[A-Z0-9]{8}\.(js|css)$"#, options: .regularExpression) != nil)
            #expect(DashboardAssets.all[path] != nil, "\(path) is embedded")
            let asset = get(path)
            #expect(asset.status == 200)
            #expect(header(asset, "Cache-Control") == "public, max-age=31536000, immutable")
        }
        #expect(!html.contains("<script>"), "no inline script")
        // Chunks the script imports (Chart.js's, loaded with a node page) are embedded too.
        let script = try #require(referenced.first { $0.hasSuffix(".js") })
        let code = String(decoding: get(script).body, as: UTF8.self)
        let chunks = code.split(separator: "\"").filter { $0.hasPrefix("./chunk-") && $0.hasSuffix(".js") }
        #expect(!chunks.isEmpty, "the script imports its chunks")
        for chunk in chunks {
            #expect(get("/assets/" + chunk.dropFirst(2)).status == 200, "\(chunk) is embedded")
        }
    }

    @Test func everyAnswerCarriesTheStrictPolicy() {
        for target in ["/", "/assets/missing.js"] {
            let policy = header(get(target), "Content-Security-Policy") ?? ""
            #expect(policy.contains("default-src 'self'"))
            #expect(policy.contains("script-src 'self';"))
            #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
            #expect(header(get(target), "X-Content-Type-Options") == "nosniff")
        }
    }

    @Test func gzipOnlyWhenAcceptedWithAPositiveQuality() throws {
        let plain = get("/")
        #expect(header(plain, "Content-Encoding") == nil)
        let cases: [(String, Bool)] = [
            ("gzip, deflate, br", true), ("br;q=1.0, gzip;q=0.5", true), ("GZIP", true), ("*", true),
            ("gzip;q=0", false), ("br", false), ("*;q=0", false), ("gzip;q=0, *", false), ("identity", false),
        ]
        for (value, expected) in cases {
            let response = get("/", [("Accept-Encoding", value)])
            #expect((header(response, "Content-Encoding") == "gzip") == expected, "Accept-Encoding: \(value)")
            #expect(header(response, "Vary") == "Accept-Encoding")
        }
        let gzipped = get("/", [("Accept-Encoding", "gzip")])
        #expect(gzipped.body.starts(with: [0x1f, 0x8b]), "a gzip member")
        #expect(header(gzipped, "ETag") != header(plain, "ETag"), "each representation has its own tag")
    }

    @Test func aMatchingETagIsAnswered304WithoutABody() throws {
        let first = get("/")
        let etag = try #require(header(first, "ETag"))
        let again = get("/", [("If-None-Match", etag)])
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
        #expect(get("/", [("If-None-Match", "\"other\"")]).status == 200)
        #expect(get("/", [("If-None-Match", "\"other\", W/\(etag)")]).status == 304)
    }

    @Test func theSiteClaimsOnlyItsPaths() {
        #expect(site.serves("/"))
        #expect(site.serves("/?x=1"))
        #expect(site.serves("/index.html"))
        #expect(site.serves("/assets/anything"))
        #expect(!site.serves("/v1/nodes"))
        #expect(!site.serves("/healthz"))
        #expect(!site.serves("/metrics"))
        #expect(!site.serves("/index.htm"))
        let missing = get("/assets/main-NOTBUILT.js")
        #expect(missing.status == 404)
        #expect(header(missing, "Cache-Control") == "no-store")
    }
}
