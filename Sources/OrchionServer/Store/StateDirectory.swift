/// Where the server keeps its state (the SQLite file, job logs).
///
/// The first that is set wins: the configured directory, systemd's
/// `$STATE_DIRECTORY` (set by `StateDirectory=orchion`; only its first entry
/// when it lists several), `$XDG_DATA_HOME/orchion`, `$HOME/.local/share/orchion`.
///
/// Threading: a value; safe anywhere.
public enum StateDirectory {
    /// The state directory for `configured` and `environment`, or nil when
    /// nothing names one (no configuration and no `HOME`).
    public static func resolve(configured: String?, environment: [String: String]) -> String? {
        if let configured, !configured.isEmpty { return configured }
        if let systemd = environment["STATE_DIRECTORY"], let first = systemd.split(separator: ":").first {
            return String(first)
        }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return data + "/orchion" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.local/share/orchion" }
        return nil
    }
}
