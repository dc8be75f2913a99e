import OrchionProto
import Synchronization

/// One read of an attempt's log: an async sequence of `Orchion_V1_LogChunk`s
/// whose `offset` is the offset in the attempt's log file (stdout and
/// stderr interleaved as they arrived) and whose `stream` says which stream
/// the bytes came from (`.unspecified` for the store's own truncation
/// marker). Iterate it once.
///
/// It ends (returns nil) at the end of what was written when `follow` is
/// false, and once the attempt is finished when it is true. It throws a
/// `LogError` when the log cannot be read, `LogError.closed` when the store
/// closes, and `CancellationError` when the iterating task is cancelled.
///
/// Backpressure: chunks wait in a buffer of about `LogLimits.followerBuffer`
/// bytes; the store adds to it only while it has room. A reader that falls
/// behind the producer is not given more: it continues from the file, in
/// pieces, as it drains, so a slow reader costs the store no memory beyond
/// its buffer.
///
/// Threading: any thread or task; the store's side runs on the loop thread.
/// Cancelling (or dropping) the reader detaches it from the store.
public final class LogReader: AsyncSequence, Sendable {
    public typealias Element = Orchion_V1_LogChunk

    /// The job and attempt read.
    public let jobID: String
    public let attempt: UInt32
    /// The buffer's size in bytes, beyond which the store stops adding.
    let capacity: Int
    private let state = Mutex(State())

    private struct State {
        var buffer: [Orchion_V1_LogChunk] = []
        var head = 0
        var bytes = 0
        var waiter: CheckedContinuation<Orchion_V1_LogChunk?, any Error>?
        /// Set when the store has nothing more to add.
        var ended = false
        var error: (any Error)?
        /// Set by the store when it stopped for want of room.
        var wantsDemand = false
        var cancelled = false
        var onDemand: (@Sendable () -> Void)?
        var onCancel: (@Sendable () -> Void)?
        var fromFile = 0
        var peakBytes = 0
    }

    init(jobID: String, attempt: UInt32, capacity: Int) {
        self.jobID = jobID
        self.attempt = attempt
        self.capacity = Swift.max(capacity, 1)
    }

    deinit {
        let onCancel = state.withLock { state -> (@Sendable () -> Void)? in
            defer { state.onCancel = nil }
            return state.ended || state.cancelled ? nil : state.onCancel
        }
        onCancel?()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: LogReader

        public mutating func next() async throws -> Orchion_V1_LogChunk? { try await reader.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: self) }

    /// Diagnostics: chunks this reader got from a read of the file (it was
    /// behind), rather than pushed live or from memory.
    public var chunksFromFile: Int { state.withLock { $0.fromFile } }

    /// Diagnostics: the most bytes of chunks it ever had waiting.
    public var peakBufferedBytes: Int { state.withLock { $0.peakBytes } }

    /// The next chunk, waiting for one; nil at the end.
    public func next() async throws -> Orchion_V1_LogChunk? {
        if let ready = try takeIfReady() { return ready.chunk }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let immediate = state.withLock { state -> Result<Element?, any Error>? in
                    if state.cancelled { return .failure(CancellationError()) }
                    if let chunk = Self.pop(&state) { return .success(chunk) }
                    if let error = state.error { return .failure(error) }
                    if state.ended { return .success(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Stops the read: a waiting `next` throws `CancellationError`, and the
    /// store forgets the reader.
    public func cancel() {
        let (waiter, onCancel) = state.withLock { state in
            defer {
                state.waiter = nil
                state.onCancel = nil
            }
            let alreadyOver = state.cancelled || state.ended
            state.cancelled = true
            return (state.waiter, alreadyOver ? nil : state.onCancel)
        }
        waiter?.resume(throwing: CancellationError())
        onCancel?()
    }

    /// A buffered chunk, the error, or nil (wait); asks the store for more
    /// when the buffer has drained below half and the store is waiting.
    private func takeIfReady() throws -> (chunk: Element?, Void)? {
        let (result, demand) = state.withLock { state -> (Result<Element?, any Error>?, (@Sendable () -> Void)?) in
            if state.cancelled { return (.failure(CancellationError()), nil) }
            if let chunk = Self.pop(&state) { return (.success(chunk), Self.demand(&state, capacity: capacity)) }
            if let error = state.error { return (.failure(error), nil) }
            if state.ended { return (.success(nil), nil) }
            return (nil, Self.demand(&state, capacity: capacity))
        }
        demand?()
        guard let result else { return nil }
        return (try result.get(), ())
    }

    private static func pop(_ state: inout State) -> Element? {
        guard state.head < state.buffer.count else { return nil }
        let chunk = state.buffer[state.head]
        state.head += 1
        state.bytes -= chunk.data.count
        if state.head == state.buffer.count {
            state.buffer.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head >= 64 && state.head * 2 >= state.buffer.count {
            state.buffer.removeFirst(state.head)
            state.head = 0
        }
        return chunk
    }

    private static func demand(_ state: inout State, capacity: Int) -> (@Sendable () -> Void)? {
        guard state.wantsDemand, state.bytes <= capacity / 2 else { return nil }
        state.wantsDemand = false
        return state.onDemand
    }

    // MARK: The store's side (loop thread)

    /// Sets what to call for more (on demand) and when the reader goes away.
    func attach(onDemand: @escaping @Sendable () -> Void, onCancel: @escaping @Sendable () -> Void) {
        state.withLock {
            $0.onDemand = onDemand
            $0.onCancel = onCancel
        }
    }

    /// Bytes the buffer may still take (0 when full), or nil once the reader
    /// was cancelled.
    var room: Int? {
        state.withLock { $0.cancelled ? nil : Swift.max(capacity - $0.bytes, 0) }
    }

    /// Adds `chunk` if there is room; false (and nothing added) when full or
    /// cancelled. A full buffer makes the reader ask for more once drained.
    func offer(_ chunk: Element, fromFile: Bool = false) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Element?, any Error>?) in
            guard !state.cancelled, !state.ended, state.bytes < capacity else {
                state.wantsDemand = true
                return (false, nil)
            }
            if fromFile { state.fromFile += 1 }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            state.buffer.append(chunk)
            state.bytes += chunk.data.count
            state.peakBytes = Swift.max(state.peakBytes, state.bytes)
            return (true, nil)
        }
        waiter?.resume(returning: chunk)
        return accepted
    }

    /// Says the store will add more when the buffer has drained.
    func requestDemand() {
        let demand = state.withLock { state -> (@Sendable () -> Void)? in
            state.wantsDemand = true
            return Self.demand(&state, capacity: capacity)
        }
        demand?()
    }

    /// Ends the sequence after what is buffered, with `error` if given.
    func end(_ error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            guard !state.ended else { return nil }
            state.ended = true
            state.error = error
            state.onCancel = nil
            state.onDemand = nil
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }
}
