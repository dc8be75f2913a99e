import OrchionCore

/// One HTTP/1.1 request, complete with its body.
public struct HTTPRequest: Sendable {
    /// "GET", "POST", ...
    public var method: String
    /// The request target as sent: path and query.
    public var target: String
    /// Header fields in arrival order; names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool
    /// The head check's answer, sent instead of calling the handler.
    var earlyAnswer: HTTPResponse?
    /// How long `earlyAnswer` is held back (an authentication failure's slow-down).
    var earlyAnswerDelayMillis: UInt64 = 0

    public init(
        method: String, target: String, headers: [(name: String, value: String)], body: [UInt8], keepAlive: Bool
    ) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// The path part of the target, percent-decoded.
    public var path: String {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            return percentDecoded(target, plusIsSpace: false)
        }
        return percentDecoded(String(target[..<mark]), plusIsSpace: false)
    }

    /// The path's segments (split at "/" first, so an escaped `%2F` stays
    /// inside its segment), each percent-decoded strictly: a malformed
    /// escape or bytes that are not UTF-8 are an INVALID_ARGUMENT error.
    /// The first segment is empty for a path that starts with "/".
    public func strictPath() throws(RPCError) -> [Substring] {
        let utf8 = target.utf8
        let end = utf8.firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        var segments: [Substring] = []
        for raw in target[..<end].split(separator: "/", omittingEmptySubsequences: false) {
            guard raw.utf8.contains(UInt8(ascii: "%")) else {
                segments.append(raw)
                continue
            }
            guard let decoded = strictlyPercentDecoded(raw.utf8, plusIsSpace: false) else {
                throw RPCError(
                    .invalidArgument,
                    "malformed path segment \(jsonQuoted(String(raw))): expected UTF-8 with %XX escapes")
            }
            segments.append(Substring(decoded))
        }
        return segments
    }

    /// The query parameters (last value wins), percent-decoded.
    public var query: [String: String] {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return [:] }
        var result: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            result[percentDecoded(String(parts.first ?? ""), plusIsSpace: true)] =
                parts.count > 1 ? percentDecoded(String(parts[1]), plusIsSpace: true) : ""
        }
        return result
    }

    /// The query parameters in order, repeats kept, percent-decoded strictly:
    /// a malformed escape (`%zz`, `%4`) or bytes that are not UTF-8 are an
    /// INVALID_ARGUMENT error naming the parameter.
    public func queryItems() throws(RPCError) -> [(name: String, value: String)] {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return [] }
        var items: [(name: String, value: String)] = []
        for pair in target.utf8[target.utf8.index(after: mark)...].split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let rawName = parts.first, let name = strictlyPercentDecoded(rawName) else {
                throw RPCError(
                    .invalidArgument,
                    "malformed query parameter name \(jsonQuoted(String(decoding: Array(parts.first ?? pair), as: UTF8.self))): "
                        + "expected UTF-8 with %XX escapes")
            }
            let rawValue = parts.count > 1 ? parts[1] : pair[pair.endIndex...]
            guard let value = strictlyPercentDecoded(rawValue) else {
                throw RPCError(
                    .invalidArgument, "malformed value of query parameter '\(name)': expected UTF-8 with %XX escapes")
            }
            items.append((name, value))
        }
        return items
    }

    /// The first value of header `name`, compared ASCII case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { asciiCaseInsensitiveEqual($0.name, name) }?.value
    }
}

/// Decodes %XX escapes, and "+" as a space when `plusIsSpace` (query strings
/// only; in a path "+" is itself). Malformed escapes (`%zz`, `%+6`) stay as
/// they are; routing uses the strict `HTTPRequest.strictPath()`.
func percentDecoded(_ text: String, plusIsSpace: Bool) -> String {
    let plus = UInt8(ascii: "+")
    guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == plus) }) else { return text }
    var bytes: [UInt8] = []
    var input = Array(text.utf8)[...]
    while let byte = input.popFirst() {
        if byte == UInt8(ascii: "%"), let high = input.first.flatMap(hexValue),
            let low = input.dropFirst().first.flatMap(hexValue)
        {
            bytes.append(high << 4 | low)
            input = input.dropFirst(2)
        } else {
            bytes.append(plusIsSpace && byte == plus ? UInt8(ascii: " ") : byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Decodes %XX escapes and "+" as a space (query strings); nil for a
/// malformed escape or a result that is not UTF-8.
func strictlyPercentDecoded(_ text: Substring.UTF8View, plusIsSpace: Bool = true) -> String? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.count)
    var input = text[...]
    while let byte = input.popFirst() {
        switch byte {
        case UInt8(ascii: "%"):
            guard let high = input.popFirst().flatMap(hexValue), let low = input.popFirst().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
        default: bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Whether two strings are equal ignoring ASCII case, without allocating.
func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    return zip(a.utf8, b.utf8).allSatisfy { x, y in
        x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
    }
}
