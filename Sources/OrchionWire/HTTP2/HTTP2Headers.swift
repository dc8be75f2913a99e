import CNGHTTP2
import Glibc

/// Calls `body` with `pairs` as an `nghttp2_nv` array (nghttp2 copies them).
/// Names and values are passed with their exact UTF-8 lengths, so a string
/// holding NUL bytes can neither be cut short nor read past.
func withHeaders<T>(_ pairs: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
    let total = pairs.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
    let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
    defer { bytes.deallocate() }
    let headers = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: max(pairs.count, 1))
    defer { headers.deallocate() }
    var at = 0
    for (index, (name, value)) in pairs.enumerated() {
        let nameStart = bytes + at
        for byte in name.utf8 {
            bytes[at] = byte
            at += 1
        }
        let valueStart = bytes + at
        for byte in value.utf8 {
            bytes[at] = byte
            at += 1
        }
        (headers + index).initialize(
            to: nghttp2_nv(
                name: nameStart, value: valueStart, namelen: name.utf8.count, valuelen: value.utf8.count,
                flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
    }
    return body(headers, pairs.count)
}

/// The header fields of one stream, collected up to a byte limit counted as
/// RFC 9113's header list size (name + value + 32 per field), over every
/// header block of the stream. Fields past the limit are never turned into
/// strings.
///
/// Threading: loop thread only.
struct HeaderFields {
    /// The most bytes accepted for the whole stream.
    let limit: Int
    /// Bytes counted so far.
    private(set) var bytes = 0
    /// The fields accepted, in order.
    private(set) var fields: [(String, String)] = []

    init(limit: Int) { self.limit = limit }

    /// Adds one field; false (and nothing added) once the limit is passed.
    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        let (size, overflow) = bytes.addingReportingOverflow(name.count &+ value.count &+ 32)
        guard !overflow, size <= limit, name.count <= limit, value.count <= limit else {
            bytes = limit &+ 1
            return false
        }
        bytes = size
        fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        return true
    }

    /// The first value of `name`.
    func first(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }

    /// The last value of `name` (trailers after headers).
    func last(_ name: String) -> String? { fields.last { $0.0 == name }?.1 }
}
