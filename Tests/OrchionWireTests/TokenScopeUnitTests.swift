import OrchionLoop
import OrchionProto
import Synchronization
import Testing

@testable import OrchionWire

/// The scope table, the guarded service, token expiry and the slow-down
/// of refused tokens, tested directly.
@Suite struct TokenScopeUnitTests {
    private static let read = Principal.client("viewer", .read)
    private static let submit = Principal.client("ci", .submit)
    private static let admin = Principal.client("root", .admin)

    @Test func everyControlMethodServedHasAScopeAndTheTableMatchesTheScopes() {
        let served = GRPCServices(control: TestControl()).methods.keys
            .filter { $0.hasPrefix("/orchion.v1.ControlService/") }
            .map { String($0.dropFirst("/orchion.v1.ControlService/".count)) }
        #expect(served.count == 21)
        for method in served { #expect(ControlScopes.required[method] != nil, "\(method) has a scope") }
        let byScope = Dictionary(grouping: ControlScopes.required.keys, by: { ControlScopes.required[$0] ?? .admin })
        #expect(
            Set(byScope[.read] ?? []) == [
                "ListNodes", "GetNode", "ListJobs", "GetJob", "FollowLogs", "WatchEvents", "ListPlugins",
                "GetScheduler", "Metrics",
            ])
        #expect(Set(byScope[.submit] ?? []) == ["SubmitJob", "SubmitJobs", "CancelJob"])
        #expect(
            Set(byScope[.admin] ?? []) == [
                "DrainNode", "UndrainNode", "CordonNode", "UncordonNode", "SetScheduler", "CreateToken", "ListTokens",
                "RevokeToken", "RemoveNode", "AdmitNode",
            ])
    }

    @Test func aScopeBelowTheMethodsIsDeniedNamingBothScopesAndAnUnknownMethodIsDeniedToAdminToo() throws {
        try ControlScopes.check("ListJobs", Self.read)
        try ControlScopes.check("SubmitJob", Self.submit)
        try ControlScopes.check("RevokeToken", Self.admin)
        #expect(throws: RPCError(.permissionDenied, "SubmitJob needs scope submit; token 'viewer' has scope read")) {
            try ControlScopes.check("SubmitJob", Self.read)
        }
        #expect(throws: RPCError(.permissionDenied, "CreateToken needs scope admin; token 'ci' has scope submit")) {
            try ControlScopes.check("CreateToken", Self.submit)
        }
        #expect(throws: RPCError(.permissionDenied, "RemoveEverything has no scope assigned: refused to every token")) {
            try ControlScopes.check("RemoveEverything", Self.admin)
        }
        #expect(throws: RPCError.self) { try ControlScopes.check("ListNodes", .agent) }
        #expect(
            Scope.read < .submit && Scope.submit < .admin && Scope(name: "admin") == .admin && Scope(name: "x") == nil)
    }

    @Test func theGuardedServiceRefusesBeforeItsBaseSeesTheCall() async throws {
        let control = TestControl()
        let guarded = ScopedControlService.guarding(control)
        #expect(ScopedControlService.guarding(guarded) is ScopedControlService, "guarded once")
        let request = Orchion_V1_SubmitJobRequest.with { $0.spec.command = "true" }
        await #expect(throws: RPCError.self) {
            _ = try await guarded.submitJob(request, context: CallContext(principal: Self.read))
        }
        #expect(try await control.listJobs(.init(), context: CallContext(principal: Self.admin)).jobs.isEmpty)
        let job = try await guarded.submitJob(request, context: CallContext(principal: Self.submit))
        #expect(
            try await control.listJobs(.init(), context: CallContext(principal: Self.admin)).jobs.map(\.id) == [job.id])
    }

    @Test func tokensAreMatchedByDigestAndAnExpiredOneIsRefusedWithItsOwnMessage() throws {
        let clock = Mutex<Int64>(1_000)
        let authenticator = Authenticator(
            joinToken: "join-token-0123456789",
            clients: [
                ClientCredential(name: "brief", secret: "brief-secret-0123456789", scope: .read, expires: 1_010),
                ClientCredential(name: "ci", digest: TokenDigest.sha256("ci-secret-0123456789".utf8), scope: .submit),
            ], now: { clock.withLock { $0 } })
        #expect(try authenticator.authenticate("Bearer brief-secret-0123456789") == .client("brief", .read))
        #expect(try authenticator.authenticate("Bearer ci-secret-0123456789") == .client("ci", .submit))
        #expect(try authenticator.authenticate("Bearer join-token-0123456789") == .agent)
        clock.withLock { $0 = 1_010 }
        #expect(authenticator.check("Bearer brief-secret-0123456789") == .failure(.expired))
        #expect(throws: RPCError(.unauthenticated, "token expired: create a new one (`orchion token create NAME`)")) {
            try authenticator.authenticate("Bearer brief-secret-0123456789")
        }
        #expect(authenticator.check("Bearer nope-nope-nope-nope") == .failure(.unknown))
        #expect(authenticator.check(nil) == .failure(.missing) && !AuthenticationFailure.missing.isGuess)
        authenticator.setClients([])
        #expect(authenticator.check("Bearer ci-secret-0123456789") == .failure(.unknown), "removed")
    }

    @Test func aPeerThatKeepsFailingIsDelayedMoreEachTimeUpToTheCapAndOthersAreNot() throws {
        let thread = try LoopThread()
        defer { try? thread.shutdown() }
        var policy = AuthFailurePolicy()
        policy.maxPeers = 3
        let throttle = AuthFailureThrottle(loop: thread.loop, policy: policy)
        let start = ContinuousClock.now
        let delays = (0..<9).map { throttle.failure(from: "192.0.2.7", now: start + .milliseconds($0)) }
        #expect(delays == [0, 0, 0, 0, 0, 250, 500, 1_000, 2_000])
        #expect(throttle.failure(from: "192.0.2.7", now: start + .seconds(1)) == 2_000, "capped")
        #expect(throttle.failure(from: "192.0.2.8", now: start + .seconds(1)) == 0, "another peer is not affected")
        // Quiet for a whole window: the count starts over.
        #expect(throttle.failure(from: "192.0.2.7", now: start + .seconds(62)) == 0)
        // An IPv6 peer counts by its /64; an IPv4-mapped one as its IPv4 address.
        #expect(PeerKey.of("2001:db8:1:2::5") == PeerKey.of("2001:db8:1:2:ffff::9"))
        #expect(PeerKey.of("2001:db8:1:2::5") != PeerKey.of("2001:db8:1:3::5"))
        #expect(PeerKey.of("::ffff:192.0.2.7") == "192.0.2.7")
        // At most maxPeers records: the one quiet longest is forgotten.
        _ = throttle.failure(from: "192.0.2.9", now: start + .seconds(63))
        _ = throttle.failure(from: "192.0.2.10", now: start + .seconds(64))
        #expect(throttle.trackedPeers == 3)
    }
}
