import OrchionPluginHost

/// Why opening `file` was refused, or nil when it loaded.
func refusal(_ file: String) -> PluginError? {
    do {
        _ = try PluginLibrary.open(file)
        return nil
    } catch {
        return error
    }
}

/// The refusal's text, or "loaded".
func outcome(_ file: String) -> String { refusal(file)?.description ?? "loaded" }
