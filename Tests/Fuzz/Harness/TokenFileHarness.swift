import OrchionServer
import OrchionWire

/// Arbitrary bytes as the server's client tokens file (`client.tokens`,
/// read at start and at every token change), through `ClientTokenFile`:
/// parse, then the rewrite that hashes lines of older versions. What must
/// hold: no crash or hang, whatever the text (long lines, odd attributes,
/// duplicate names, huge times); every entry's digest is 32 bytes; the
/// rewrite reads back as the same tokens (names, digests, scopes,
/// expiries), every one of them hashed (comments are kept as written).
///
/// Layout: the whole input is the file's text.
enum TokenFileHarness {
    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let entries: [ClientTokenEntry]
        do throws(TokenFileError) {
            entries = try ClientTokenFile.parse(text, path: "fuzz.tokens")
        } catch {
            precondition(!error.message.isEmpty, "refused without saying why")
            return
        }
        for entry in entries { precondition(entry.digest.count == 32, "a digest of \(entry.digest.count) bytes") }
        let rewritten = ClientTokenFile.rewritten(text, entries: entries)
        let reread: [ClientTokenEntry]
        do throws(TokenFileError) {
            reread = try ClientTokenFile.parse(rewritten, path: "fuzz.tokens")
        } catch {
            preconditionFailure("the rewrite of an accepted file is refused: \(error)")
        }
        func key(_ entry: ClientTokenEntry) -> String {
            "\(entry.name) \(entry.digest) \(entry.scope.name) \(entry.expires.map(String.init) ?? "-")"
        }
        precondition(reread.map(key) == entries.map(key), "the rewrite reads back as other tokens")
        // Comments are kept as written; every token line is hashed.
        precondition(reread.allSatisfy { $0.legacySecret == nil }, "the rewrite kept an older line's secret")
    }
}
