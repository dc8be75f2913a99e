import Glibc

/// Owns C strings and string arrays handed to a plugin, and frees them all at once.
final class CStrings {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    /// A NUL-terminated copy of `string`, valid as long as this object.
    func keep(_ string: String) -> UnsafePointer<CChar> {
        let copy = strdup(string)!
        strings.append(copy)
        return UnsafePointer(copy)
    }

    /// A copy of `list` as `count` C strings followed by NULL.
    func keep(_ list: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
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
