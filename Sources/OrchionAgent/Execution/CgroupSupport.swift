import COrchionAgent
import Glibc

/// Whether, and where, the agent may make a cgroup v2 per job.
///
/// The agent never takes cgroups that are not its own: it uses a configured
/// base, or — detected — the root of a cgroup v2 hierarchy it sits at the
/// top of (a container's namespace), or the parent of its own cgroup when
/// that parent was delegated to it (systemd `Delegate=yes` with
/// `DelegateSubgroup=`, which marks it with the `trusted.delegate` or
/// `user.delegate` xattr, or a parent owned by the agent's own uid), or —
/// systemd before 254, `Delegate=yes` alone — its own cgroup when that is
/// marked delegated, after moving itself into `agent` below it.
///
/// Threading: a value; safe anywhere. `detect` blocks (reads `/proc` and
/// cgroupfs): call it off the event loop, e.g. at startup.
public enum CgroupSupport: Sendable, Hashable {
    /// Job cgroups go under this base.
    case available(CgroupBase)
    /// Jobs run without a cgroup; the reason says why.
    case unavailable(String)

    /// Finds where job cgroups may go. `base` is a configured directory in a
    /// cgroup v2 hierarchy (nil: detect), `proc` the procfs root.
    public static func detect(base configured: String? = nil, proc: String = "/proc") -> CgroupSupport {
        let base: String
        if let configured {
            base = configured
        } else {
            guard let mount = cgroup2Mount(proc: proc) else {
                return .unavailable("no cgroup v2 hierarchy is mounted (found none in \(proc)/self/mountinfo)")
            }
            guard let own = ownCgroup(proc: proc) else {
                return .unavailable("\(proc)/self/cgroup has no cgroup v2 (\"0::\") line")
            }
            if own == "/" {
                base = mount
            } else {
                let parent = own.split(separator: "/").dropLast().joined(separator: "/")
                let parentPath = parent.isEmpty ? mount : mount + "/" + parent
                if let refusal = notDelegated(parentPath) {
                    // systemd before 254 has no DelegateSubgroup=: with
                    // Delegate=yes the agent's own cgroup is the delegated
                    // one. It moves itself into `agent` below it (what
                    // DelegateSubgroup=agent does) and uses its own cgroup.
                    let ownPath = mount + own
                    guard delegatedByXattr(ownPath), moveSelf(into: ownPath + "/agent") else {
                        return .unavailable(refusal)
                    }
                    base = ownPath
                } else {
                    base = parentPath
                }
            }
        }
        return prepare(base)
    }

    /// Checks `base` and enables the memory and cpu controllers for its children.
    static func prepare(_ base: String) -> CgroupSupport {
        guard CgroupFiles.exists(base + "/cgroup.controllers") else {
            return .unavailable("\(base) is not a cgroup v2 directory (it has no cgroup.controllers)")
        }
        guard access(base, W_OK) == 0, access(base + "/cgroup.subtree_control", W_OK) == 0 else {
            return .unavailable("the agent may not write cgroup \(base) (uid \(geteuid()))")
        }
        let available = Set(
            (CgroupFiles.read(base + "/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace).map(
                String.init))
        var notes: [String] = []
        func enable(_ controller: String) -> Bool {
            guard available.contains(controller) else {
                notes.append(
                    "cgroup \(base) offers no \(controller) controller (found: "
                        + "\(available.isEmpty ? "none" : available.sorted().joined(separator: " ")))")
                return false
            }
            let enabled = (CgroupFiles.read(base + "/cgroup.subtree_control") ?? "").split(
                whereSeparator: \.isWhitespace)
            if enabled.contains(where: { $0 == controller }) { return true }
            var status = CgroupFiles.write("+" + controller, to: base + "/cgroup.subtree_control")
            if status == EBUSY, moveSelfToLeaf(base) {
                // The base held the agent itself (no internal processes): retried from a leaf.
                status = CgroupFiles.write("+" + controller, to: base + "/cgroup.subtree_control")
            }
            if status != 0 {
                notes.append(
                    "cannot enable the \(controller) controller in \(base)/cgroup.subtree_control: "
                        + CgroupFiles.describe(status))
            }
            return status == 0
        }
        let memory = enable("memory")
        let cpu = enable("cpu")
        return .available(CgroupBase(path: base, memory: memory, cpu: cpu, notes: notes))
    }

    /// Moves the agent's process from `base` into `base/orchion-agent`, so
    /// controllers can be enabled for job cgroups beside it (cgroup v2 lets
    /// only a cgroup without processes of its own hand controllers to its
    /// children). Only when the agent is in `base` itself.
    private static func moveSelfToLeaf(_ base: String) -> Bool {
        let members = (CgroupFiles.read(base + "/cgroup.procs") ?? "").split(separator: "\n")
        guard members.contains(where: { $0 == String(getpid()) }) else { return false }
        return moveSelf(into: base + "/orchion-agent")
    }

    /// Makes cgroup `leaf` (if missing) and moves the agent's process into it.
    private static func moveSelf(into leaf: String) -> Bool {
        guard mkdir(leaf, 0o755) == 0 || errno == EEXIST else { return false }
        return CgroupFiles.write(String(getpid()), to: leaf + "/cgroup.procs") == 0
    }

    /// Whether systemd marked `directory` as delegated (`Delegate=yes`).
    private static func delegatedByXattr(_ directory: String) -> Bool {
        let names: [String] = ["trusted.delegate", "user.delegate"]
        return names.contains { orchion_has_xattr(directory, $0) != 0 }
    }

    /// Why `directory`, the parent of the agent's cgroup, is not the agent's
    /// to use, or nil when it was delegated.
    private static func notDelegated(_ directory: String) -> String? {
        if delegatedByXattr(directory) { return nil }
        var info = stat()
        if stat(directory, &info) == 0, info.st_uid == geteuid(), geteuid() != 0 { return nil }
        return "the parent of the agent's cgroup, \(directory), was not delegated to it (no trusted.delegate or "
            + "user.delegate xattr, not owned by uid \(geteuid())): run it with systemd Delegate=yes, or "
            + "configure a cgroup base"
    }

    /// Where the cgroup v2 hierarchy is mounted, from mountinfo.
    static func cgroup2Mount(proc: String) -> String? {
        guard let text = CgroupFiles.read(proc + "/self/mountinfo") else { return nil }
        for line in text.split(separator: "\n") {
            guard let dash = line.firstRange(of: " - "),
                line[dash.upperBound...].split(separator: " ").first == "cgroup2"
            else { continue }
            let fields = line[..<dash.lowerBound].split(separator: " ")
            guard fields.count >= 5 else { continue }
            return unescape(String(fields[4]))
        }
        return nil
    }

    /// The agent's own cgroup v2 path ("/" at the root), from /proc/self/cgroup.
    static func ownCgroup(proc: String) -> String? {
        guard let text = CgroupFiles.read(proc + "/self/cgroup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space).
    private static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        var input = Array(field.utf8)[...]
        while let byte = input.popFirst() {
            if byte == UInt8(ascii: "\\"), input.count >= 3,
                let value = UInt8(String(decoding: input.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                input = input.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A cgroup v2 directory the agent makes job cgroups in, and which of the
/// controllers it limits jobs with are enabled for them.
///
/// Threading: a value; safe anywhere.
public struct CgroupBase: Sendable, Hashable {
    public let path: String
    /// Whether job cgroups get `memory.max`.
    public let memory: Bool
    /// Whether job cgroups get `cpu.max`.
    public let cpu: Bool
    /// Why a controller is missing, one line each.
    public let notes: [String]

    public init(path: String, memory: Bool, cpu: Bool, notes: [String] = []) {
        self.path = path
        self.memory = memory
        self.cpu = cpu
        self.notes = notes
    }
}
