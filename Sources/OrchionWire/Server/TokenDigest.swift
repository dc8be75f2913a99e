import COpenSSL

/// The SHA-256 of a bearer token: what the server keeps of a client token
/// or a node credential instead of the token itself. Tokens are 256-bit
/// random secrets, so a plain hash is enough (no password stretching):
/// the file or database that holds digests gives nobody a usable token.
///
/// Threading: pure; safe anywhere.
public enum TokenDigest {
    /// The 32-byte SHA-256 of `bytes`.
    public static func sha256<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        let input = Array(bytes)
        var digest = [UInt8](repeating: 0, count: 32)
        input.withUnsafeBufferPointer { source in
            digest.withUnsafeMutableBufferPointer { out in
                _ = SHA256(source.baseAddress, source.count, out.baseAddress)
            }
        }
        return digest
    }

    /// Lower-case hex of `sha256(token)`, as token files and the store keep it.
    public static func hex(_ token: String) -> String {
        sha256(token.utf8).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }
}
