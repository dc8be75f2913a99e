/// A named secret token (the agents' join token, a client's API token).
///
/// Its `description`, `debugDescription` and mirror show the name only, so
/// a token logged or interpolated by mistake does not leak: only `secret`
/// gives the value, to hand to the `Authenticator`.
///
/// Threading: a value; safe anywhere.
public struct Token: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The name clients are audited under ("default" for a bare token).
    public let name: String
    /// The token itself. Never log it.
    public let secret: String

    public init(name: String, secret: String) {
        self.name = name
        self.secret = secret
    }

    public var description: String { "token '\(name)' (hidden)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name], displayStyle: .struct) }
}

/// A token file that cannot be used, or a token that cannot be created:
/// which file and why, with the fix when there is one. Never carries a
/// token's value.
///
/// Threading: a value; safe anywhere.
public struct TokenFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (or `ORCHION_JOIN_TOKEN`) concerned.
    public let path: String
    /// What is wrong.
    public let message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
