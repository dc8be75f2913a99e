import Glibc

/// The account a job runs as: its ids and its supplementary groups, the
/// list `initgroups(3)` would set (`getgrouplist`: the primary group and
/// every group that names the user, e.g. `video` and `render` for GPU jobs).
///
/// Threading: a value; safe anywhere. `lookup` blocks (NSS may read files
/// or ask a directory service): call it off the event loop.
public struct RunAsAccount: Sendable, Hashable {
    /// The user name asked for.
    public let name: String
    public let uid: UInt32
    /// The primary group.
    public let gid: UInt32
    /// Every group the process gets, the primary one included.
    public let groups: [UInt32]

    public init(name: String, uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// Most bytes of `getpwnam_r` buffer tried before giving up.
    private static let maxBuffer = 1 << 20

    /// Looks `name` up with `getpwnam_r` and `getgrouplist`. Blocking.
    public static func lookup(_ name: String) throws(JobRunnerError) -> RunAsAccount {
        guard !name.isEmpty, !name.utf8.contains(0) else { throw .unknownUser(name) }
        var size = max(Int(sysconf(Int32(_SC_GETPW_R_SIZE_MAX))), 1024)
        while true {
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let status = getpwnam_r(name, &entry, buffer, size, &found)
            if status == ERANGE && size < maxBuffer {
                size *= 2
                continue
            }
            guard status == 0 else { throw .userLookupFailed(name, errno: status) }
            guard found != nil else { throw .unknownUser(name) }
            return RunAsAccount(
                name: name, uid: entry.pw_uid, gid: entry.pw_gid, groups: groupList(name, primary: entry.pw_gid))
        }
    }

    /// `getgrouplist(name, primary)`, growing its buffer until it fits.
    private static func groupList(_ name: String, primary: gid_t) -> [UInt32] {
        var count: Int32 = 32
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var found = count
            if getgrouplist(name, primary, &groups, &found) >= 0 {
                return Array(groups.prefix(Int(max(found, 0))))
            }
            // -1: too small; `found` now holds the size needed.
            guard found > count, found <= 65_536 else { return [primary] }
            count = found
        }
    }
}
