#if DEBUG
    import Synchronization

    /// Debug builds only: the highest unsent output and buffered inbound bytes
    /// each HTTP/2 connection reached, by the peer's port, so tests can assert
    /// that a misbehaving peer leaves the server's buffers bounded.
    ///
    /// Threading: any thread (a mutex); connections record from their loop.
    enum HTTP2Statistics {
        /// Peaks seen for one connection.
        struct Peaks: Sendable {
            /// Response bytes in stream buffers plus bytes queued on the socket.
            var unsentBytes = 0
            /// Request bytes held for handlers (partial and waiting messages).
            var bufferedInboundBytes = 0
        }

        private static let peaks = Mutex<[UInt16: Peaks]>([:])

        static func record(peerPort: UInt16, unsent: Int, inbound: Int) {
            peaks.withLock { all in
                var entry = all[peerPort] ?? Peaks()
                entry.unsentBytes = max(entry.unsentBytes, unsent)
                entry.bufferedInboundBytes = max(entry.bufferedInboundBytes, inbound)
                all[peerPort] = entry
            }
        }

        /// The peaks of the connection whose peer used `port`, if one was seen.
        static func peaks(peerPort port: UInt16) -> Peaks? { peaks.withLock { $0[port] } }
    }
#endif
