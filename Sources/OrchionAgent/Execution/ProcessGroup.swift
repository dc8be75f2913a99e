import Glibc

/// Looks at a process group through `/proc`.
///
/// Threading: `hasLiveMembers` blocks (it reads procfs): call it off the loop.
enum ProcessGroup {
    /// Whether a process other than a zombie is in process group `group`.
    /// A zombie has ended; it only waits for its parent (an orphan's is
    /// init, or a subreaper) to collect it.
    static func hasLiveMembers(_ group: Int32, proc: String = "/proc") -> Bool {
        guard let directory = opendir(proc) else { return kill(-group, 0) == 0 }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let first = name.utf8.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
                let stat = CgroupFiles.read("\(proc)/\(name)/stat", limit: 4096),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "(comm)": state, ppid, pgrp.
            let fields = stat[stat.index(after: close)...].split(separator: " ", maxSplits: 3)
            if fields.count >= 3, Int32(fields[2]) == group, fields[0] != "Z" { return true }
        }
        return false
    }
}
