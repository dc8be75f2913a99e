/// The scope each control method needs: the one table both faces (gRPC
/// and REST/JSON) consult, through `ScopedControlService`. A method that is
/// not in the table is refused to every token, admin included, so a new
/// method cannot be served before it is given a scope here.
///
/// Threading: pure; safe anywhere.
public enum ControlScopes {
    /// Method name (as in control.proto) → the least scope that may call it.
    /// Adding a method: one line here, and its forward in `ScopedControlService`.
    public static let required: [String: Scope] = [
        "ListNodes": .read,
        "GetNode": .read,
        "ListJobs": .read,
        "GetJob": .read,
        "FollowLogs": .read,
        "WatchEvents": .read,
        "ListPlugins": .read,
        "GetScheduler": .read,
        "Metrics": .read,  // GET /metrics when it requires a token
        "SubmitJob": .submit,
        "SubmitJobs": .submit,
        "CancelJob": .submit,  // a submit token: only the jobs it submitted (ControlAPI checks)
        "DrainNode": .admin,
        "UndrainNode": .admin,
        "CordonNode": .admin,
        "UncordonNode": .admin,
        "SetScheduler": .admin,
        "CreateToken": .admin,
        "ListTokens": .admin,
        "RevokeToken": .admin,
        "RemoveNode": .admin,
        "AdmitNode": .admin,
    ]

    /// Returns when `principal` may call `method`; else PERMISSION_DENIED
    /// naming the scope needed and the token's (never its secret).
    public static func check(_ method: String, _ principal: Principal) throws(RPCError) {
        guard case .client(let name, let scope) = principal else {
            throw RPCError(.permissionDenied, "the agent join token and node credentials cannot call the control API")
        }
        guard let needed = required[method] else {
            throw RPCError(.permissionDenied, "\(method) has no scope assigned: refused to every token")
        }
        guard scope >= needed else {
            throw RPCError(
                .permissionDenied,
                "\(method) needs scope \(needed.name); token '\(name)' has scope \(scope.name)")
        }
    }
}
