import Glibc
import OrchionAgent
import OrchionLoop
import OrchionWire

/// What `orchion agent run` needs to know, from flags and `ORCHION_*`
/// variables (flags win).
///
/// Threading: a value; safe anywhere.
public struct AgentSettings: Sendable {
    /// The server's agent port, `HOST:PORT` (a name is resolved at each connect).
    public var server: ServerAddress
    /// The join token, sent as `authorization: Bearer …` to join (when there
    /// is no node credential, or the server refused it); nil when none is
    /// configured, which is fine once the node holds its credential.
    public var joinToken: String?
    /// This node's own credential, read from the state directory
    /// (`NodeCredentialFile`) when it is this node id's; presented instead
    /// of the join token.
    public var nodeCredential: NodeCredential?
    /// This node's id in the cluster.
    public var nodeID: String
    /// Labels added to (and winning over) the discovered ones.
    public var labels: [String: String] = [:]
    /// Plugin directories searched first for executors.
    public var pluginDirectories: [String] = []
    /// The journal and spool's directory.
    public var stateDirectory: String
    /// On SIGTERM, stop running jobs (and report their end) before exiting.
    public var stopJobsOnExit = true
    /// Reconnect delays.
    public var backoff = Backoff()
    /// Output kept on disk while the server is unreachable; beyond it the
    /// jobs' output is paused (the jobs block on their own writes).
    public var spoolLimitBytes: UInt64 = 256 << 20
    /// How long a sent message must stay on a stream that is still open
    /// before it counts as delivered (see `Outbox`).
    public var confirmMillis: UInt64 = 1_000
    /// How the server is trusted over TLS: its CA certificate (PEM, from
    /// `--ca-cert`), or a pinned CA hash (`--ca-hash`, kubeadm's
    /// discovery-token-ca-cert-hash); nil: plaintext.
    public var serverTrust: ServerTrust?
    /// Who jobs run as when the agent is root (`--job-user`,
    /// `--allow-job-user`, `--allow-root-jobs`).
    public var jobUsers = JobUserPolicy()
    /// Where jobs that name no working directory get one each (`--work-dir`).
    public var workDirectory: String

    /// The trust an agent puts in its server's certificate.
    public enum ServerTrust: Sendable {
        /// The CA certificates in this PEM (read from `file`).
        case caCertificate(pem: [UInt8], file: String)
        /// The CA whose public key has this hash (found in the server's chain).
        case pinned(SPKIHash)

        /// The TLS settings for connecting to `host`.
        public func clientTLS(serverName host: String) throws(TLSError) -> GRPCClientTLS {
            switch self {
            case .caCertificate(let pem, _):
                GRPCClientTLS(context: try TLSClientContext(trustingPEM: pem), serverName: host)
            case .pinned(let hash): GRPCClientTLS(context: try TLSClientContext(pinned: hash), serverName: host)
            }
        }
    }

    public init(server: ServerAddress, joinToken: String?, nodeID: String, stateDirectory: String) {
        self.server = server
        self.joinToken = joinToken
        self.nodeID = nodeID
        self.stateDirectory = stateDirectory
        workDirectory = Self.defaultWorkDirectory(nodeID: nodeID, stateDirectory: stateDirectory)
    }

    /// Where jobs that name no `cwd` get a directory each, by default:
    /// for a root agent `/var/lib/orchion-jobs/<node>`, which every job
    /// user can reach (the state directory usually cannot be: it sits in
    /// root's home or is systemd's mode-700 StateDirectory) and no other
    /// user can create first (found by attack: under the world-writable
    /// /tmp, any local user could make the directory first and keep the
    /// agent from starting); for any other agent, whose jobs run as itself,
    /// `<state-dir>/work`.
    static func defaultWorkDirectory(nodeID: String, stateDirectory: String, root: Bool = geteuid() == 0) -> String {
        root ? "/var/lib/orchion-jobs/" + nodeID : stateDirectory + "/work"
    }

    /// The `ORCHION_*` variables the agent reads (besides the plugin host's
    /// `ORCHION_PLUGINS_PATH` and `ORCHION_JOIN_TOKEN`).
    public static let variables = [
        "ORCHION_SERVER", "ORCHION_JOIN_TOKEN_FILE", "ORCHION_NODE_ID", "ORCHION_AGENT_STATE_DIR", "ORCHION_CA_CERT",
        "ORCHION_CA_HASH", "ORCHION_AGENT_JOB_USER", "ORCHION_AGENT_WORK_DIR",
    ]

    /// The file of this node's credential.
    public var credentialPath: String { NodeCredentialFile.path(in: stateDirectory) }

    /// The settings from `flags`, then `environment`, then the defaults.
    /// Blocking (reads the token file, the node credential file and
    /// `/etc/machine-id`): call before the loop runs.
    public static func resolve(
        _ flags: AgentFlags, environment: [String: String], root: String = ""
    ) throws(AgentSettingsError) -> AgentSettings {
        let serverText = flags.server ?? environment["ORCHION_SERVER"] ?? "127.0.0.1:7420"
        let server = try ServerAddress(parsing: serverText)
        var token: String?
        if let file = flags.joinTokenFile ?? environment["ORCHION_JOIN_TOKEN_FILE"] {
            token = try readTokenFile(file)
        } else if let value = environment["ORCHION_JOIN_TOKEN"], !value.isEmpty {
            token = value
        }
        let nodeID = flags.nodeID ?? environment["ORCHION_NODE_ID"] ?? defaultNodeID(root: root)
        guard !nodeID.isEmpty, nodeID.utf8.count <= 128, !nodeID.contains(where: { $0.isWhitespace || $0 == "/" })
        else { throw .invalid("--node-id", expected: "1–128 characters without spaces or '/'", found: nodeID) }
        let state =
            flags.stateDirectory ?? environment["ORCHION_AGENT_STATE_DIR"]
            ?? environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? environment["HOME"].map { $0 + "/.local/share/orchion-agent" }
        guard let state, !state.isEmpty else {
            throw .invalid("--state-dir", expected: "a directory (or $STATE_DIRECTORY or $HOME set)", found: "none")
        }
        var settings = AgentSettings(server: server, joinToken: token, nodeID: nodeID, stateDirectory: state)
        // A credential of another node id (the id was changed) is not used:
        // this id joins with the join token, which replaces the file.
        settings.nodeCredential = try NodeCredentialFile.read(settings.credentialPath).flatMap {
            $0.nodeID == nodeID ? $0 : nil
        }
        if settings.nodeCredential == nil, token == nil { throw .missingToken }
        for label in flags.labels {
            guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
                throw .invalid("--label", expected: "KEY=VALUE", found: label)
            }
            settings.labels[String(label[..<equals])] = String(label[label.index(after: equals)...])
        }
        settings.pluginDirectories = flags.pluginDirectories
        settings.stopJobsOnExit = flags.stopJobsOnExit
        settings.serverTrust = try serverTrust(flags, environment: environment)
        // The join token and the node credential go out with the first
        // request: beyond loopback they travel inside TLS, or not at all
        // unless the operator says the link encrypts already.
        if settings.serverTrust == nil, !flags.plaintext, !WireTLS.isLoopback(server.host) {
            throw .invalid(
                "--server",
                expected:
                    "--ca-hash or --ca-cert for a server beyond loopback (the join command `orchion up` prints "
                    + "carries --ca-hash), or --plaintext when the link encrypts already (WireGuard)",
                found: server.description)
        }
        let jobUser = flags.jobUser ?? environment["ORCHION_AGENT_JOB_USER"].flatMap { $0.isEmpty ? nil : $0 }
        for user in [jobUser].compactMap({ $0 }) + flags.allowedJobUsers {
            guard !user.isEmpty, !user.contains(where: { $0.isWhitespace || $0 == ":" || $0 == "/" }) else {
                throw .invalid(
                    user == jobUser ? "--job-user" : "--allow-job-user", expected: "a user name", found: user)
            }
        }
        settings.jobUsers = JobUserPolicy(
            defaultUser: jobUser ?? "nobody", allowedUsers: flags.allowedJobUsers, allowRoot: flags.allowRootJobs)
        let work =
            flags.workDirectory ?? environment["ORCHION_AGENT_WORK_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? defaultWorkDirectory(nodeID: nodeID, stateDirectory: state)
        guard work.hasPrefix("/") else {
            throw .invalid("--work-dir", expected: "an absolute directory path", found: work)
        }
        settings.workDirectory = work
        return settings
    }

    /// `/etc/machine-id` (under `root`), else the hostname.
    static func defaultNodeID(root: String) -> String {
        if let text = readSmallFile(root + "/etc/machine-id", limit: 256) {
            let id = trimmed(text)
            if !id.isEmpty { return id }
        }
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The token in `path`, which must be a regular file owned by this user
    /// and readable by no one else.
    static func readTokenFile(_ path: String) throws(AgentSettingsError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .tokenFile(path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .tokenFile(path, "is not a regular file") }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw .tokenFile(
                path,
                "is readable by others (mode \(String(mode, radix: 8))); expected owner-only: chmod 600 \(path)")
        }
        if info.st_uid != geteuid() {
            throw .tokenFile(
                path, "is owned by uid \(info.st_uid), expected \(geteuid()) (the agent's user): chown it")
        }
        guard let text = readSmallFile(path, limit: 4096) else {
            throw .tokenFile(path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        return try joinToken(in: text, path: path)
    }

    /// `--ca-cert` (read now) or `--ca-hash`, flags before variables; nil for neither.
    static func serverTrust(
        _ flags: AgentFlags, environment: [String: String]
    ) throws(AgentSettingsError) -> ServerTrust? {
        let file = flags.caCertificateFile ?? environment["ORCHION_CA_CERT"].flatMap { $0.isEmpty ? nil : $0 }
        let hash = flags.caHash ?? environment["ORCHION_CA_HASH"].flatMap { $0.isEmpty ? nil : $0 }
        if let hash {
            guard file == nil else {
                throw .invalid("--ca-hash", expected: "either --ca-cert or --ca-hash, not both", found: hash)
            }
            guard let pin = SPKIHash(hash) else {
                throw .invalid("--ca-hash", expected: "sha256: and 64 hex digits", found: hash)
            }
            return .pinned(pin)
        }
        guard let file else { return nil }
        guard let pem = try? readAll(file), SPKIHash(certificatePEM: pem) != nil else {
            throw .invalid("--ca-cert", expected: "a readable PEM CA certificate file", found: file)
        }
        return .caCertificate(pem: pem, file: file)
    }

    private static func readAll(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw AgentSettingsError.tokenFile(path, "cannot be opened") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes += chunk.prefix(count)
            if bytes.count > 1 << 20 { break }
        }
        return bytes
    }

    /// The one token in a join token file's `text`, in the server's format
    /// (`TokenFile`: blank lines and `#` comments, whole-line or after the
    /// token, are ignored), so the file `orchion server` writes can be
    /// copied to an agent as it is.
    static func joinToken(in text: String, path: String) throws(AgentSettingsError) -> String {
        var tokens: [Substring] = []
        // By Unicode scalars: "\r\n" is one Character, so a file with CRLF
        // endings would keep its CR in the token (as the server's token
        // files, `TokenFile.lines`).
        for line in text.unicodeScalars.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map { Substring($0) }
                .prefix { !$0.hasPrefix("#") }
            tokens += fields
        }
        guard let token = tokens.first else { throw .tokenFile(path, "is empty; expected the join token") }
        guard tokens.count == 1 else {
            throw .tokenFile(path, "holds \(tokens.count) words besides comments; expected the join token alone")
        }
        return String(token)
    }

    /// At most `limit` bytes of a file, as UTF-8 text; nil when it cannot be read.
    static func readSmallFile(_ path: String, limit: Int) -> String? {
        readBytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// At most `limit` bytes of a file; nil when it cannot be read.
    static func readBytes(_ path: String, limit: Int) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var count = 0
        while count < limit {
            let read = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(descriptor, buffer.baseAddress.map { $0 + count }, limit - count)
            }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { break }
            count += read
        }
        return Array(bytes.prefix(count))
    }
}

/// `text` without leading and trailing white space.
func trimmed(_ text: String) -> String {
    String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
}

/// The flags of `orchion agent run`, before the environment and defaults.
///
/// Threading: a value; safe anywhere.
public struct AgentFlags: Sendable, Equatable {
    public var server: String?
    public var joinTokenFile: String?
    public var nodeID: String?
    public var labels: [String] = []
    public var pluginDirectories: [String] = []
    public var stateDirectory: String?
    public var stopJobsOnExit = true
    /// `--ca-cert`: the server's CA certificate file (PEM).
    public var caCertificateFile: String?
    /// `--ca-hash`: the pinned CA public key hash, `sha256:<hex>`.
    public var caHash: String?
    /// `--job-user`: the user jobs that name none run as when the agent is root.
    public var jobUser: String?
    /// `--allow-job-user` (repeatable): other users jobs may name.
    public var allowedJobUsers: [String] = []
    /// `--allow-root-jobs`: jobs may run as a uid-0 account.
    public var allowRootJobs = false
    /// `--plaintext`: connect beyond loopback without TLS (the credentials
    /// then cross the network in the clear).
    public var plaintext = false
    /// `--work-dir`: where jobs that name no working directory get one.
    public var workDirectory: String?

    public init() {}
}

/// `HOST:PORT` (or `[IPv6]:PORT`).
///
/// Threading: a value; safe anywhere.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(parsing text: String) throws(AgentSettingsError) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalid("--server", expected: "HOST:PORT", found: text) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .invalid("--server", expected: "HOST:PORT", found: text)
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = UInt16(portText), port > 0 else {
            throw .invalid("--server", expected: "HOST:PORT with a port from 1 to 65535", found: text)
        }
        if host == "localhost" { host = "127.0.0.1" }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The socket address, resolving a name with `getaddrinfo`. Blocking: call off the loop.
    public func resolve() -> Result<SocketAddress, AgentSettingsError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            return .failure(.unresolvable(host, String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr {
                let family = Int32(address.pointee.sa_family)
                let ok: Bool
                if family == AF_INET {
                    ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        var raw = pointer.pointee.sin_addr
                        return inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)) != nil
                    }
                } else if family == AF_INET6 {
                    ok = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        var raw = pointer.pointee.sin6_addr
                        return inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil
                    }
                } else {
                    ok = false
                }
                if ok {
                    let text = String(
                        decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    return .success(SocketAddress(host: text, port: port))
                }
            }
            entry = current.pointee.ai_next
        }
        return .failure(.unresolvable(host, "no IPv4 or IPv6 address"))
    }
}

/// Why the agent's settings were refused.
public enum AgentSettingsError: Error, CustomStringConvertible, Equatable {
    case invalid(String, expected: String, found: String)
    case missingToken
    case tokenFile(String, String)
    case credentialFile(String, String)
    case unresolvable(String, String)

    public var description: String {
        switch self {
        case .invalid(let what, let expected, let found): "\(what): expected \(expected), found '\(found)'"
        case .missingToken:
            "no join token and no node credential in the state directory: give --join-token-file PATH "
                + "(mode 600) or set ORCHION_JOIN_TOKEN to join"
        case .tokenFile(let path, let problem): "join token file \(path) \(problem)"
        case .credentialFile(let path, let problem): "node credential file \(path) \(problem)"
        case .unresolvable(let host, let reason): "cannot resolve server host '\(host)': \(reason)"
        }
    }
}
