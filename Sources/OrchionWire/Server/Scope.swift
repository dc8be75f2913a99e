/// What a client token may do, each scope including the ones below it
/// (`join` aside): `join` (enrol new nodes through the agent protocol, as
/// the join token does: no control method at all), `read` (list and watch), `submit` (plus submitting jobs and cancelling
/// its own), `admin` (everything: nodes, tokens, the scheduler, anyone's
/// jobs). `ControlScopes` says which scope each method needs.
///
/// Threading: a value; safe anywhere.
public enum Scope: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case join = 0
    case read = 1
    case submit = 2
    case admin = 3

    /// The scope named `name` ("join", "read", "submit", "admin"), or nil.
    public init?(name: some StringProtocol) {
        guard let scope = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = scope
    }

    /// "join", "read", "submit" or "admin", as token files and the API spell it.
    public var name: String {
        switch self {
        case .join: "join"
        case .read: "read"
        case .submit: "submit"
        case .admin: "admin"
        }
    }

    public var description: String { name }

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }
}
