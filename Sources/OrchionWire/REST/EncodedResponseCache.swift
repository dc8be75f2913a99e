import SwiftProtobuf

/// Remembers the JSON encoding of the last reply per route, and reuses it when
/// the next reply is an equal message: a dashboard polling an unchanged node
/// list costs no encoding. Correctness rests on message equality (cheap when
/// the handler returns the same stored message), not on the key, which only
/// picks the slot.
///
/// Threading: loop thread only.
final class EncodedResponseCache {
    private var entries: [String: (message: any SwiftProtobuf.Message, json: [UInt8])] = [:]
    /// Slots kept; all are dropped when full (routes are few, ids are many).
    let capacity = 256

    /// The canonical JSON of `message`, encoded only if it differs from the last one for `key`.
    func json<M: SwiftProtobuf.Message & Equatable>(for key: String, _ message: M) throws -> [UInt8] {
        if let entry = entries[key], let previous = entry.message as? M, previous == message { return entry.json }
        let json: [UInt8] = try message.jsonUTF8Bytes()
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = (message, json)
        return json
    }
}
