/// Orchion's release, as `orchion --version` and `orchion-agent --version`
/// print it and agents report it when they register.
///
/// Threading: a constant; safe anywhere.
public enum OrchionVersion {
    public static let current = "0.1.0"
}
