import OrchionControl
import OrchionCore
import OrchionProto
import OrchionWire

/// Node credentials and removed nodes.
///
/// An agent joins with the cluster's join token; its registration is
/// answered with a credential of its own (a fresh 256-bit token), of which
/// the server keeps only the SHA-256, durably, before the agent sees it.
/// From then on the agent presents that credential, which authenticates
/// only as its own node. The join token cannot register a node that holds
/// a credential: a machine that lost its own is removed and admitted first.
///
/// Removing a node revokes its credential, closes its stream, gives its
/// running attempts up as lost (retried elsewhere, as a lost node's) and
/// takes it off the node list; its id stays remembered (a tombstone), so
/// neither its old credential nor a new join with the join token gets it
/// back until an admin admits it again.
///
/// Threading: loop thread only (extends `ControlPlane`).
extension ControlPlane {
    /// Takes the server's authenticator and hands it every credential and
    /// removed node the store held; later changes reach it as they happen.
    func useAuthenticator(_ authenticator: Authenticator) {
        self.authenticator = authenticator
        authenticator.setNodeCredentials(active: nodeCredentials, removed: removedNodes)
    }

    /// Rebuilds the credentials and tombstones from the store.
    func reloadCredentials(_ stored: [StoredNodeCredential]) {
        var unreadable = 0
        for row in stored {
            let digest = Self.digest(hex: row.digest)
            if row.removed {
                removedNodes[row.nodeID] = digest ?? []
            } else if let digest {
                nodeCredentials[row.nodeID] = digest
            } else {
                unreadable += 1
            }
        }
        if unreadable > 0 {
            ServerLog.error("\(unreadable) stored node credentials are unreadable; those nodes must join again")
        }
    }

    /// Whether `principal` may register node `id`: the join token only a
    /// node that has no credential yet and was not removed (so a stolen
    /// join token enrols new nodes but never takes an existing node's
    /// place, as k3s refuses a known node name with another node
    /// password); a node credential only its own node.
    func checkRegistrant(_ principal: Principal, nodeID id: String) throws(RPCError) {
        switch principal {
        case .agent:
            if nodeCredentials[id] != nil {
                throw RPCError(
                    .permissionDenied,
                    "node \(id) already joined and holds its own credential: the join token cannot take its place "
                        + "(if this machine lost its state or was reinstalled: `orchion node remove \(id)`, then "
                        + "`orchion node admit \(id)`, then start its agent again)")
            }
        case .node(let owner):
            guard owner == id else {
                throw RPCError(
                    .permissionDenied,
                    "this credential belongs to node \(owner): it cannot register node \(id)")
            }
        case .client:
            throw RPCError(.permissionDenied, "a client token cannot register a node")
        }
        if removedNodes[id] != nil { throw RPCError(.permissionDenied, Authenticator.removedMessage(id)) }
    }

    /// Makes `token` the credential of `session`'s node, replacing any
    /// earlier one (refused from now on); only its SHA-256 is kept, and
    /// staged for the store. Call `whenDurable` before telling the agent.
    /// Refused when the node was removed, or registered again on another
    /// stream, since `session` registered.
    func issueCredential(_ token: String, to session: AgentSession) throws(RPCError) {
        let id = session.nodeID
        if removedNodes[id] != nil { throw RPCError(.permissionDenied, Authenticator.removedMessage(id)) }
        guard sessions[id] === session else {
            throw RPCError(.aborted, "node \(id) registered again on another connection while this one joined")
        }
        let digest = TokenDigest.sha256(token.utf8)
        nodeCredentials[id] = digest
        stage(
            .putNodeCredential(
                StoredNodeCredential(nodeID: id, digest: Self.hex(digest), removed: false, changedAt: now())))
        authenticator?.setNodeCredential(id, digest: digest)
    }

    /// Removes node `id` from the cluster (see the extension's comment).
    /// NOT_FOUND for an id the server has neither as a node nor as a
    /// credential; FAILED_PRECONDITION when it is already removed. The
    /// answer is staged: call `whenDurable` before giving it.
    func removeNode(_ id: String) throws(RPCError) -> Orchion_V1_RemovedNode {
        if removedNodes[id] != nil {
            throw RPCError(
                .failedPrecondition, "node \(id) is already removed; `orchion node admit \(id)` lets it join again")
        }
        guard nodes[id] != nil || nodeCredentials[id] != nil else {
            throw RPCError(.notFound, "node \(id) not found")
        }
        let digest = nodeCredentials.removeValue(forKey: id) ?? []
        removedNodes[id] = digest
        stage(
            .putNodeCredential(
                StoredNodeCredential(nodeID: id, digest: Self.hex(digest), removed: true, changedAt: now())))
        authenticator?.setNodeCredential(id, digest: digest, removed: true)

        let session = sessions.removeValue(forKey: id)
        if let session {
            metrics.agentStreams.decrement()
            session.close(RPCError(.unauthenticated, Authenticator.removedMessage(id)))
        }
        // Off the list and out of scheduling first, so the attempts given
        // up below are not placed on it again.
        let placed = nodeJobs.removeValue(forKey: id) ?? []
        if nodes.removeValue(forKey: id) != nil {
            scheduling.remove(id)
            stage(.deleteNode(id))
            nodeListing = nil
        }
        var retried: [String] = []
        for jobID in placed.sorted() {
            guard let attempt = jobs[jobID]?.activeAttempt, attempt.nodeID == id else { continue }
            apply(.lost(attempt: attempt.number, reason: "node \(id) was removed from the cluster"), to: jobID)
            retried.append(jobID)
        }
        ServerLog.info(
            "node \(id) removed: credential revoked\(session == nil ? "" : ", stream closed"), "
                + "\(retried.count) running job(s) given up as lost")
        return .with {
            $0.id = id
            $0.disconnected = session != nil
            $0.retriedJobIds = retried
        }
    }

    /// Lets removed node `id` join again with the join token (its old
    /// credential stays refused: joining issues a new one). NOT_FOUND when
    /// it is not a removed node. Staged: call `whenDurable` before answering.
    func admitNode(_ id: String) throws(RPCError) -> Orchion_V1_AdmittedNode {
        guard removedNodes.removeValue(forKey: id) != nil else {
            throw RPCError(.notFound, "node \(id) is not a removed node")
        }
        stage(.deleteNodeCredential(id))
        authenticator?.setNodeCredential(id, digest: nil)
        ServerLog.info("node \(id) admitted: it may join again with the join token")
        return .with { $0.id = id }
    }

    /// Lower-case hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The 32 bytes of a SHA-256 in lower- or upper-case hex; nil for anything else.
    static func digest(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
