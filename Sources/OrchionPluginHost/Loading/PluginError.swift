/// Why the host refused or stopped a plugin. Every message names the file,
/// what was found and what was expected.
public enum PluginError: Error, Hashable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(file: String, reason: String)
    /// The path is not a regular file (a FIFO, device, directory, socket, a
    /// symlink loop, ...); it was refused before any open that could block.
    case notRegularFile(file: String, found: String)
    /// The file, or a directory above it, can be changed by someone other
    /// than its owner and root (sshd's StrictModes rule).
    case unsafePermissions(file: String, path: String, reason: String)
    /// The file is larger than a plugin may be.
    case tooLarge(file: String, found: Int64, limit: Int64)
    /// The file does not start with the ELF magic.
    case notELF(file: String, found: String)
    /// The ELF headers contradict each other or the file's size (a truncated
    /// or crafted file that would fault when mapped).
    case inconsistentELF(file: String, found: String, expected: String)
    /// A DT_RUNPATH or DT_RPATH directory is relative, uses a `$` token the
    /// host does not resolve, or fails the permission rule.
    case unsafeLibraryPath(file: String, entry: String, reason: String)
    /// A DT_NEEDED library the loader would open is not a regular file that
    /// only its owner and root can change (a FIFO would block `dlopen`).
    case unsafeDependency(file: String, library: String, found: String, expected: String)
    /// The ELF file is for another machine or word size.
    case wrongArchitecture(file: String, found: String, expected: String)
    /// `dlopen` failed; `reason` is the dynamic linker's message.
    case openFailed(file: String, reason: String)
    /// The entry symbol is not exported.
    case missingEntry(file: String, symbol: String)
    /// The entry symbol is exported but is not a function in executable code.
    case entryNotFunction(file: String, symbol: String, found: String)
    /// Probing the file in a child process failed: the plugin's code exited,
    /// crashed or hung while loading (command line only).
    case probeFailed(file: String, reason: String)
    /// The entry returned NULL.
    case nullDescriptor(file: String)
    /// A struct is smaller than the ABI minor it claims requires.
    case structTooSmall(file: String, structName: String, found: UInt32, expected: UInt32)
    /// The plugin was built for another ABI major.
    case abiMajorMismatch(file: String, found: UInt16, expected: UInt16)
    /// The plugin needs a newer ABI minor than this host has.
    case abiMinorTooNew(file: String, found: UInt16, expected: UInt16)
    /// The descriptor's kind is not one this host knows.
    case unknownKind(file: String, found: Int32)
    /// A descriptor field is missing or malformed.
    case invalidDescriptor(file: String, field: String, expected: String, found: String)
    /// Another plugin already has this name.
    case duplicateName(file: String, name: String, loadedFrom: String)
    /// The plugin's init failed; `message` is its own, verbatim.
    case initFailed(file: String, name: String, status: Int32, message: String)
    /// A call into the plugin returned an error status.
    case callFailed(name: String, function: String, status: Int32, message: String)
    /// The plugin is quarantined after repeated failures.
    case quarantined(name: String, reason: String)

    /// Whether the refused file was already mapped by `dlopen` (its
    /// constructors ran). The host never unloads an image and each load maps
    /// a fresh snapshot, so reloading such a file on every change would pile
    /// up images: it is re-read only after a restart.
    public var leftImageMapped: Bool {
        switch self {
        case .unreadable, .notRegularFile, .unsafePermissions, .tooLarge, .notELF, .inconsistentELF,
            .wrongArchitecture, .openFailed, .probeFailed, .unsafeLibraryPath, .unsafeDependency:
            false
        default: true
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            "\(file): cannot read: \(reason)"
        case let .notRegularFile(file, found):
            "\(file): not a regular file: found \(found), expected a shared object file"
        case let .unsafePermissions(file, path, reason):
            "\(file): unsafe permissions: \(path) \(reason), expected writable only by its owner (root or this user)"
        case let .tooLarge(file, found, limit):
            "\(file): too large: found \(found) bytes, expected at most \(limit)"
        case let .inconsistentELF(file, found, expected):
            "\(file): malformed ELF file: found \(found), expected \(expected)"
        case let .unsafeLibraryPath(file, entry, reason):
            "\(file): unsafe library search path: run path entry '\(entry)' \(reason)"
        case let .unsafeDependency(file, library, found, expected):
            "\(file): unsafe library '\(library)': found \(found), expected \(expected)"
        case let .entryNotFunction(file, symbol, found):
            "\(file): \(symbol) is not a function: found \(found), expected a function in executable code"
        case let .probeFailed(file, reason):
            "\(file): \(reason)"
        case let .notELF(file, found):
            "\(file): not a shared object: found \(found), expected an ELF file"
        case let .wrongArchitecture(file, found, expected):
            "\(file): wrong architecture: found \(found), expected \(expected)"
        case let .openFailed(file, reason):
            "\(file): dlopen failed: \(reason)"
        case let .missingEntry(file, symbol):
            "\(file): not an Orchion plugin: found no symbol \(symbol), expected it to be exported"
        case let .nullDescriptor(file):
            "\(file): entry returned NULL, expected a descriptor"
        case let .structTooSmall(file, name, found, expected):
            "\(file): \(name) is too small: found \(found) bytes, expected at least \(expected)"
        case let .abiMajorMismatch(file, found, expected):
            "\(file): incompatible ABI: found major \(found), expected \(expected)"
        case let .abiMinorTooNew(file, found, expected):
            "\(file): plugin needs a newer host: found ABI minor \(found), expected at most \(expected)"
        case let .unknownKind(file, found):
            "\(file): unknown plugin kind: found \(found), expected 1 (scheduler) or 2 (executor)"
        case let .invalidDescriptor(file, field, expected, found):
            "\(file): invalid \(field): found \(found), expected \(expected)"
        case let .duplicateName(file, name, loadedFrom):
            "\(file): duplicate plugin name '\(name)': already loaded from \(loadedFrom)"
        case let .initFailed(file, name, status, message):
            "\(file): plugin '\(name)' failed to initialise (status \(status)): \(message)"
        case let .callFailed(name, function, status, message):
            "plugin '\(name)': \(function) failed (status \(status)): \(message)"
        case let .quarantined(name, reason):
            "plugin '\(name)' is quarantined: \(reason)"
        }
    }
}
