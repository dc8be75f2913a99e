import OrchionProto
import OrchionWire

/// One agent's open stream: what the router sends down it.
///
/// Messages are queued here and written by the stream's own task, with the
/// transport's backpressure; the queue holds only what the server's state
/// already bounds (assignments and cancels of the node's jobs, settings).
///
/// Threading: loop thread only; `outbound` is consumed by the stream's task.
final class AgentSession {
    let nodeID: String
    /// Tells this connection apart from an older or newer one of the same node.
    let serial: Int
    let outbound: AsyncStream<Orchion_V1_ServerMessage>
    private let continuation: AsyncStream<Orchion_V1_ServerMessage>.Continuation

    init(nodeID: String, serial: Int) {
        self.nodeID = nodeID
        self.serial = serial
        (outbound, continuation) = AsyncStream.makeStream()
    }

    /// The server has stopped reading this stream while job output waits
    /// for the disk (log backpressure): the agent's silence meanwhile is the
    /// server's doing, not a sign the node is gone.
    var heldBack = false

    func send(_ message: Orchion_V1_ServerMessage) {
        continuation.yield(message)
    }

    /// Why the server ended this session while its agent was still
    /// connected (another connection registered the node); nil otherwise.
    private(set) var supersededBy: RPCError?

    /// Ends the outbound queue; the stream's task then ends the call, with
    /// `reason` when one is given.
    func close(_ reason: RPCError? = nil) {
        if let reason, supersededBy == nil { supersededBy = reason }
        continuation.finish()
    }
}
