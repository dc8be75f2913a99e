import Glibc

/// Owns C strings and string arrays handed across the plugin boundary (by the
/// host to a plugin, or by a built-in plugin to the host), and frees them all
/// at once.
public final class CStrings {
    public init() {}

    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    /// A NUL-terminated copy of `string`, valid as long as this object.
    public func keep(_ string: String) -> UnsafePointer<CChar> {
        let copy = strdup(string)!
        strings.append(copy)
        return UnsafePointer(copy)
    }

    /// A copy of `list` as `count` C strings followed by NULL.
    public func keep(_ list: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: list.count + 1)
        for (index, string) in list.enumerated() { array[index] = keep(string) }
        array[list.count] = nil
        arrays.append(array)
        return UnsafePointer(array)
    }

    deinit {
        for string in strings { free(string) }
        for array in arrays { array.deallocate() }
    }
}
