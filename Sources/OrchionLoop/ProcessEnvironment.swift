import Glibc

/// The process's environment variables.
///
/// Threading: read it before starting threads that change the environment
/// (nothing in Orchion does).
public enum ProcessEnvironment {
    /// The environment as a dictionary (`environ`, at the time of the call).
    public static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
