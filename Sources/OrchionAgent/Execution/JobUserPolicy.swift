import Glibc

/// Which users an agent running as root lets jobs run as: a job that names
/// none runs as `defaultUser`; one that names another user runs only when
/// that user is on `allowedUsers`; no job runs as a uid-0 account (root or
/// any alias of it) unless `allowRoot`. An agent that is not root runs
/// every job as itself, whatever this says.
///
/// Threading: a value; safe anywhere. `resolveDefault` and `account` look
/// users up (blocking NSS calls): call them off the event loop.
public struct JobUserPolicy: Sendable, Hashable {
    /// The account a job that names no user runs as (`--job-user`).
    public var defaultUser = "nobody"
    /// The other users jobs may name (`--allow-job-user`, repeatable).
    public var allowedUsers: [String] = []
    /// Whether a job may run as a uid-0 account (`--allow-root-jobs`).
    public var allowRoot = false

    public init(defaultUser: String = "nobody", allowedUsers: [String] = [], allowRoot: Bool = false) {
        self.defaultUser = defaultUser
        self.allowedUsers = allowedUsers
        self.allowRoot = allowRoot
    }

    /// Checks the default user at the agent's start: it must exist and, unless
    /// root jobs are allowed, not be uid 0. Returns its account. Blocking.
    public func resolveDefault() throws(JobRunnerError) -> RunAsAccount {
        let account: RunAsAccount
        do {
            account = try RunAsAccount.lookup(defaultUser)
        } catch .unknownUser {
            throw .noDefaultUser(defaultUser)
        }
        if account.uid == 0 && !allowRoot { throw .userRefused(defaultUser, .root) }
        return account
    }

    /// The account a job runs as on an agent whose effective uid is
    /// `agentUID`: nil to run it as the agent itself (no switch), else the
    /// account to switch to. `requested` is the user the job's launch names
    /// (nil or empty: none). Throws when the policy refuses it. Blocking.
    public func account(for requested: String?, agentUID: UInt32) throws(JobRunnerError) -> RunAsAccount? {
        let name = requested.flatMap { $0.isEmpty ? nil : $0 }
        guard agentUID == 0 else {
            // Not root: only ourselves, as before.
            guard let name else { return nil }
            let account = try RunAsAccount.lookup(name)
            guard account.uid == agentUID else { throw .cannotSwitchUser(name, agentUID: agentUID) }
            return nil
        }
        let user = name ?? defaultUser
        let account = try RunAsAccount.lookup(user)
        if account.uid == 0 {
            guard allowRoot else { throw .userRefused(user, .root) }
            return account
        }
        guard user == defaultUser || allowedUsers.contains(user) else {
            throw .userRefused(user, .notAllowed(defaultUser: defaultUser, allowed: allowedUsers))
        }
        return account
    }

    /// One line for the agent's log at start: who jobs run as.
    public func summary(default account: RunAsAccount) -> String {
        let allowed = allowedUsers.isEmpty ? "no other user" : allowedUsers.joined(separator: ", ")
        return "jobs run as user \(account.name) (uid \(account.uid)) unless they name another; they may name "
            + "\(allowed)\(allowRoot ? "; root jobs are allowed (--allow-root-jobs)" : "; never root")"
    }
}

/// Why `JobUserPolicy` refused a job's user.
public enum JobUserRefusal: Sendable, Hashable {
    /// The account is uid 0 and `--allow-root-jobs` is not set.
    case root
    /// Neither the default user nor on the allow-list.
    case notAllowed(defaultUser: String, allowed: [String])
}
