/// An HTTP response with a complete body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Status line, headers (with Content-Length and, when closing,
    /// Connection) and body. Without `includeBody` (an answer to HEAD) the
    /// head is the same and the body is left out; 1xx, 204 and 304 carry
    /// neither body nor Content-Length (RFC 9110 §8.6).
    func serialized(keepAlive: Bool, includeBody: Bool = true) -> [UInt8] {
        let bodiless = (100..<200).contains(status) || status == 204 || status == 304
        var out: [UInt8] = []
        out.reserveCapacity(128 + body.count + headers.count * 48)
        out += Self.statusLine(status)
        for (name, value) in headers {
            out += name.utf8
            out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
            out += value.utf8
            out += [13, 10]
        }
        if !bodiless {
            out += "Content-Length: ".utf8
            out += String(body.count).utf8
            out += [13, 10]
        }
        out += keepAlive ? [13, 10] : Array("Connection: close\r\n\r\n".utf8)
        if includeBody && !bodiless { out += body }
        return out
    }

    /// "HTTP/1.1 200 OK\r\n", built once per status.
    private static func statusLine(_ status: Int) -> [UInt8] {
        status == 200 ? ok : Array("HTTP/1.1 \(status) \(reason(status))\r\n".utf8)
    }

    private static let ok = Array("HTTP/1.1 200 OK\r\n".utf8)

    /// The reason phrase for `status`.
    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 499: "Client Closed Request"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}
