import Glibc

/// This node's own credential: the secret the server issued when the agent
/// joined with the join token, which the agent presents from then on
/// instead of the join token. It authenticates only as `nodeID`.
///
/// Threading: a value; safe anywhere.
public struct NodeCredential: Sendable, Equatable {
    /// The node it belongs to.
    public let nodeID: String
    /// The bearer secret (never logged).
    public let token: String

    public init(nodeID: String, token: String) {
        self.nodeID = nodeID
        self.token = token
    }

    /// Whether `token` can travel in an `authorization` header: 16 to 512
    /// printable ASCII bytes without spaces.
    static func isUsable(_ token: String) -> Bool {
        (16...512).contains(token.utf8.count) && token.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }
}

/// The node credential's file in the agent's state directory:
///
///     # orchion node credential ...
///     node <node id>
///     credential <secret>
///
/// Owner-only (0600, owned by the agent's user), replaced atomically
/// (a synced temporary file renamed over it, then the directory synced),
/// so a crash leaves the old credential or the new one, never a torn file.
///
/// Threading: blocking file I/O: call before the loop runs or off the loop
/// (`loop.offload`).
public enum NodeCredentialFile {
    /// The file's name inside the state directory.
    public static let name = "node.credential"

    /// The file's path for `stateDirectory`.
    public static func path(in stateDirectory: String) -> String {
        (stateDirectory.hasSuffix("/") ? stateDirectory : stateDirectory + "/") + name
    }

    /// The credential in `path`; nil when there is no file. A file that is
    /// there but unusable (readable by others, another owner, not in the
    /// format) is an error that says so.
    public static func read(_ path: String) throws(AgentSettingsError) -> NodeCredential? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw .credentialFile(path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .credentialFile(path, "is not a regular file") }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw .credentialFile(
                path, "is readable by others (mode \(String(mode, radix: 8))); expected owner-only: chmod 600 \(path)")
        }
        if info.st_uid != geteuid() {
            throw .credentialFile(
                path, "is owned by uid \(info.st_uid), expected \(geteuid()) (the agent's user): chown it")
        }
        guard let text = AgentSettings.readSmallFile(path, limit: 4096) else {
            throw .credentialFile(path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        return try parse(text, path: path)
    }

    /// The credential in a file's `text`; `path` names it in errors.
    static func parse(_ text: String, path: String) throws(AgentSettingsError) -> NodeCredential {
        var node: String?
        var token: String?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let key = fields.first, !key.hasPrefix("#") else { continue }
            guard fields.count == 2 else {
                throw .credentialFile(
                    path, "has a line of \(fields.count) words; expected 'node ID' and 'credential SECRET'")
            }
            switch key {
            case "node" where node == nil: node = String(fields[1])
            case "credential" where token == nil: token = String(fields[1])
            default:
                // The line is not echoed: it may hold the secret.
                throw .credentialFile(
                    path, "has an unexpected or repeated line; expected 'node ID' and 'credential SECRET' once each")
            }
        }
        guard let node, let token else {
            throw .credentialFile(path, "lacks its 'node ID' or 'credential SECRET' line")
        }
        guard NodeCredential.isUsable(token) else {
            throw .credentialFile(path, "holds a credential that is not 16 to 512 printable characters")
        }
        return NodeCredential(nodeID: node, token: token)
    }

    /// The file's text for `credential`.
    static func format(_ credential: NodeCredential) -> String {
        """
        # orchion node credential: this node's own secret, issued by the server when it joined; owner-only.
        # Delete this file to join again with the join token (as a new credential for this node id).
        node \(credential.nodeID)
        credential \(credential.token)

        """
    }

    /// Writes `credential` to `path`, replacing what was there atomically and
    /// durably: a 0600 temporary file beside it, written and synced, renamed
    /// over `path`, then the directory synced.
    public static func write(_ credential: NodeCredential, to path: String) throws(JournalError) {
        let temporary = path + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .io("create \(temporary)", errno) }
        var failure: JournalError?
        // An earlier, wider file of that name keeps its mode through O_CREAT.
        if fchmod(descriptor, 0o600) != 0 {
            failure = .io("chmod 600 \(temporary)", errno)
        } else if !AgentJournal.writeAll(descriptor, Array(format(credential).utf8), at: 0) {
            failure = .io("write \(temporary)", errno)
        } else if fsync(descriptor) != 0 {
            failure = .io("fsync \(temporary)", errno)
        }
        if close(descriptor) != 0, failure == nil { failure = .io("close \(temporary)", errno) }
        if let failure {
            _ = unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            _ = unlink(temporary)
            throw .io("rename \(temporary) to \(path)", code)
        }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let directoryDescriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw .io("open \(directory) to sync it", errno) }
        defer { _ = close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw .io("fsync \(directory)", errno) }
    }
}
