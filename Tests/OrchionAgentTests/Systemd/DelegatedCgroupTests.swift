import Foundation
import OrchionAgent
import TestSupport
import Testing

/// `CgroupSupport.detect` under systemd before 254 (`Delegate=yes`, no
/// `DelegateSubgroup=`): the agent's own cgroup carries the delegation mark.
/// Run against a fake tree — a procfs with `mountinfo` and `cgroup`, and
/// plain directories and files standing in for the cgroup2 mount — so no
/// real cgroup is touched and the "move" is a write to a plain file.
@Suite struct DelegatedCgroupTests {
    /// A fake procfs naming `cgroups` as the cgroup2 mount and `/svc` as the
    /// agent's own cgroup, with `cgroups/svc` a cgroup v2 lookalike.
    private static func tree(markOwn: Bool) throws -> (root: URL, proc: String, cgroups: String) {
        let root = try Paths.temporaryDirectory("orchion-delegated")
        let files = FileManager.default
        let proc = root.appendingPathComponent("proc")
        let cgroups = root.appendingPathComponent("cgroups")
        let service = cgroups.appendingPathComponent("svc")
        try files.createDirectory(at: proc.appendingPathComponent("self"), withIntermediateDirectories: true)
        try files.createDirectory(
            at: service.appendingPathComponent("agent"), withIntermediateDirectories: true)
        try "30 25 0:26 / \(cgroups.path) rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw\n".write(
            to: proc.appendingPathComponent("self/mountinfo"), atomically: true, encoding: .utf8)
        try "0::/svc\n".write(to: proc.appendingPathComponent("self/cgroup"), atomically: true, encoding: .utf8)
        try "cpu memory pids\n".write(
            to: service.appendingPathComponent("cgroup.controllers"), atomically: true, encoding: .utf8)
        for file in ["cgroup.subtree_control", "cgroup.procs", "agent/cgroup.procs"] {
            try "".write(to: service.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        if markOwn {
            // What systemd does to a Delegate=yes unit's cgroup (user.* here:
            // trusted.* on a plain file system needs CAP_SYS_ADMIN).
            let mark = try runCommand(
                ["python3", "-c", "import os, sys; os.setxattr(sys.argv[1], 'user.delegate', b'1')", service.path],
                timeout: 30)
            guard mark.status == 0 else { throw SetupFailed(description: "setxattr user.delegate: \(mark.stderr)") }
        }
        return (root, proc.path, cgroups.path)
    }

    struct SetupFailed: Error, CustomStringConvertible {
        let description: String
    }

    @Test func anOwnCgroupMarkedDelegatedBecomesTheBaseAfterTheAgentMovesIntoAgent() throws {
        let tree = try Self.tree(markOwn: true)
        defer { try? FileManager.default.removeItem(at: tree.root) }
        let support = CgroupSupport.detect(proc: tree.proc)
        guard case .available(let base) = support else {
            Issue.record("expected the agent's own delegated cgroup, found \(support)")
            return
        }
        #expect(base.path == tree.cgroups + "/svc")
        #expect(base.memory && base.cpu, "\(base.notes)")
        let moved = try String(contentsOfFile: tree.cgroups + "/svc/agent/cgroup.procs", encoding: .utf8)
        #expect(moved == String(getpid()), "the agent writes its pid into <own>/agent/cgroup.procs")
    }

    @Test(.enabled(if: geteuid() == 0, "as another user the parent it owns counts as delegated"))
    func anUnmarkedOwnCgroupUnderAnUndelegatedParentIsRefusedWithTheReason() throws {
        let tree = try Self.tree(markOwn: false)
        defer { try? FileManager.default.removeItem(at: tree.root) }
        #expect(
            CgroupSupport.detect(proc: tree.proc)
                == .unavailable(
                    "the parent of the agent's cgroup, \(tree.cgroups), was not delegated to it (no trusted.delegate "
                        + "or user.delegate xattr, not owned by uid 0): run it with systemd Delegate=yes, or "
                        + "configure a cgroup base"))
        let moved = try String(contentsOfFile: tree.cgroups + "/svc/agent/cgroup.procs", encoding: .utf8)
        #expect(moved == "", "nothing was moved")
    }
}
