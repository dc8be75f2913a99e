import COrchionPlugin

/// A message buffer a plugin writes its error (or reason) into, read back
/// safely even when the plugin forgot the terminating NUL. A guard follows
/// the `size` bytes the plugin is given, so writing past them hits the guard
/// (see `overrun`) instead of the host's memory.
struct PluginErrorBuffer {
    /// ORCHION_ERROR_MAX, as the header promises.
    static let size = Int(ORCHION_ERROR_MAX)
    private static let guardBytes = 64
    private static let pattern = CChar(bitPattern: GuardPattern.byte)
    private var bytes = [CChar](unsafeUninitializedCapacity: size + guardBytes) { buffer, count in
        buffer.initialize(repeating: 0)
        buffer[size...].initialize(repeating: pattern)
        count = size + guardBytes
    }

    /// Whether the plugin wrote past the `size` bytes it was given.
    var overrun: Bool {
        bytes.withUnsafeBytes { !GuardPattern.intact(UnsafeRawBufferPointer(rebasing: $0[Self.size...])) }
    }

    /// The error a call that overran this buffer gets, naming the plugin.
    static func overrunError(name: String, function: String) -> PluginError {
        .callFailed(
            name: name, function: function, status: 0,
            message: "wrote past the end of its \(size)-byte message buffer; its answer is discarded")
    }

    /// Calls `body` with the buffer and its size.
    mutating func withBuffer<T>(_ body: (UnsafeMutablePointer<CChar>, Int) -> T) -> T {
        bytes.withUnsafeMutableBufferPointer { body($0.baseAddress!, Self.size) }
    }

    /// What the plugin wrote, up to the first NUL or the buffer's end.
    var message: String {
        let text = String(
            decoding: bytes.prefix(Self.size).prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? "(no message)" : text
    }
}

/// The byte pattern the host fills the guard after a plugin's output with.
enum GuardPattern {
    static let byte: UInt8 = 0xA5
    private static let word = UInt64(0xA5A5_A5A5_A5A5_A5A5)

    /// Whether every byte of `guard` still holds the pattern (a word at a time).
    static func intact(_ guard: UnsafeRawBufferPointer) -> Bool {
        let words = `guard`.count / 8
        for index in 0..<words where `guard`.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) != word {
            return false
        }
        return `guard`[(words * 8)...].allSatisfy { $0 == byte }
    }
}
