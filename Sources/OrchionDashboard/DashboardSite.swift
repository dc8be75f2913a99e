import OrchionWire

/// The dashboard on the API's port: `/` and `/index.html` (revalidated on
/// every load), `/assets/<name>-<hash>.<ext>` (content-hashed, cached for a
/// year as immutable). Every answer carries a strict Content-Security-Policy
/// (scripts, styles and connections from this origin only; no inline
/// script); the gzip built in is sent to clients that accept it. No token
/// is needed to load the page: the API it calls needs one.
///
/// Threading: any thread (immutable).
public struct DashboardSite: PublicSite {
    /// The policy: everything from this origin, no inline scripts, no
    /// plugins, not framed. `data:` images only for the empty favicon.
    public static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        + "frame-ancestors 'none'"
    static let immutable = "public, max-age=31536000, immutable"
    static let revalidate = "no-cache"

    private let files: [String: DashboardAsset]

    public init(files: [String: DashboardAsset] = DashboardAssets.all) {
        self.files = files
    }

    public func serves(_ target: String) -> Bool {
        let path = Self.path(of: target)
        return path == "/" || path == "/index.html" || path.hasPrefix("/assets/")
    }

    public func answer(_ request: HTTPRequest) -> HTTPResponse {
        var path = Self.path(of: request.target)
        if path == "/" { path = "/index.html" }
        guard let file = files[String(path)] else {
            var response = HTTPResponse(
                status: 404, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                body: Array("no dashboard file \(path)\n".utf8))
            response.headers += Self.securityHeaders
            return response
        }
        let gzip = Self.acceptsGzip(request.header("Accept-Encoding"))
        // One ETag per representation: the gzip is other bytes.
        let etag = gzip ? file.etag.dropLast() + "-gzip\"" : file.etag
        var headers: [(name: String, value: String)] = [
            ("Cache-Control", path.hasPrefix("/assets/") ? Self.immutable : Self.revalidate),
            ("ETag", String(etag)), ("Vary", "Accept-Encoding"),
        ]
        headers += Self.securityHeaders
        if let match = request.header("If-None-Match"), Self.matches(match, etag: String(etag)) {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers.append(("Content-Type", file.contentType))
        if gzip { headers.append(("Content-Encoding", "gzip")) }
        return HTTPResponse(status: 200, headers: headers, body: gzip ? file.gzip : file.bytes)
    }

    static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", contentSecurityPolicy), ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
    ]

    /// The target's path, without its query.
    static func path(of target: String) -> Substring {
        target.prefix { $0 != "?" && $0 != "#" }
    }

    /// Whether an Accept-Encoding value allows gzip (by name or `*`, with a
    /// q-value above 0; RFC 9110 §12.5.3).
    static func acceptsGzip(_ value: String?) -> Bool {
        guard let value else { return false }
        var named: Bool?
        var wildcard: Bool?
        for item in value.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingSpaces() }
            guard let coding = parts.first?.lowercased() else { continue }
            var allowed = true
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                if pair.count == 2, pair[0].lowercased() == "q" { allowed = (Double(pair[1]) ?? 0) > 0 }
            }
            if coding == "gzip" || coding == "x-gzip" { named = allowed } else if coding == "*" { wildcard = allowed }
        }
        return named ?? wildcard ?? false
    }

    /// Whether an If-None-Match value names `etag` (or is `*`); weak
    /// comparison, as RFC 9110 §13.1.2 asks for GET.
    static func matches(_ value: String, etag: String) -> Bool {
        value.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingSpaces()
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
