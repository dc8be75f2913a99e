import CNGHTTP2
import Glibc

/// Calls `body` with `pairs` as an `nghttp2_nv` array (nghttp2 copies them).
func withHeaders<T>(_ pairs: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
    var strings: [UnsafeMutablePointer<CChar>] = []
    defer { for string in strings { free(string) } }
    let headers = pairs.map { name, value -> nghttp2_nv in
        let cName = strdup(name)!
        let cValue = strdup(value)!
        strings += [cName, cValue]
        return nghttp2_nv(
            name: UnsafeMutableRawPointer(cName).assumingMemoryBound(to: UInt8.self),
            value: UnsafeMutableRawPointer(cValue).assumingMemoryBound(to: UInt8.self),
            namelen: name.utf8.count, valuelen: value.utf8.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
    }
    return headers.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
}
