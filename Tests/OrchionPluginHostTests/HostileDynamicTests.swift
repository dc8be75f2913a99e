import Foundation
import OrchionPluginHost
import TestSupport
import Testing

/// Crafted program headers, dynamic tables and library search paths, each a
/// real shared object built in the test (then patched): the loader refuses
/// them before `dlopen` (which would crash or block in the host), and real
/// linkers' output still loads.
@Suite struct HostileDynamicTests {

    /// A little-endian ELF64 file's bytes with helpers to find and patch
    /// its program headers and dynamic entries.
    private struct Image {
        var bytes: Data

        func u64(_ at: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        func u32(_ at: Int) -> UInt32 { UInt32(truncatingIfNeeded: u64(at) & 0xFFFF_FFFF) }
        mutating func put64(_ value: UInt64, at offset: Int) {
            for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        /// Offsets of the program headers of `type`.
        func headers(_ type: UInt32) -> [Int] {
            let phoff = Int(u64(32))
            let phnum = Int(bytes[56]) | Int(bytes[57]) << 8
            return (0..<phnum).map { phoff + $0 * 56 }.filter { u32($0) == type }
        }
        /// The file offset of the dynamic entry with `tag` (the first one).
        func dynamicEntry(_ tag: UInt64) -> Int? {
            guard let dynamic = headers(2).first else { return nil }
            var at = Int(u64(dynamic + 8))
            while u64(at) != 0 {
                if u64(at) == tag { return at }
                at += 16
            }
            return nil
        }
    }

    private func write(_ image: Image, _ name: String, in dir: URL) throws -> String {
        let file = dir.appendingPathComponent(name).path
        try image.bytes.write(to: URL(fileURLWithPath: file))
        return file
    }

    private func compile(_ arguments: [String]) throws {
        let result = try runCommand(["cc", "-shared", "-fPIC"] + arguments, timeout: 60)
        guard result.status == 0 else { throw CPlugins.BuildFailed(output: result.stderr) }
    }

    // MARK: Program headers

    @Test func loadSegmentsThatWrapOverlapOrDescendAreRefusedBeforeDlopen() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try CPlugins.fixture("good.so", in: dir)
        let original = Image(bytes: try Data(contentsOf: URL(fileURLWithPath: good)))
        let loads = original.headers(1)
        try #require(loads.count >= 2)
        let last = try #require(loads.last)

        var wrap = original
        wrap.put64(UInt64.max - wrap.u64(last + 16) + 0x1000 + 1, at: last + 40)  // p_memsz: vaddr + memsz wraps
        let wrapping = try write(wrap, "wrapping.so", in: dir)
        let wrapError = refusal(wrapping)?.description ?? "loaded"
        #expect(wrapError.contains("malformed ELF file") && wrapError.contains("to end below"), "\(wrapError)")

        var overlap = original
        overlap.put64(overlap.u64(loads[0] + 16), at: last + 16)  // the last PT_LOAD at the first one's address
        let overlapping = try write(overlap, "overlap.so", in: dir)
        #expect(outcome(overlapping).contains("ascending p_vaddr order, not overlapping"), "\(outcome(overlapping))")

        var swapped = original
        let first = loads[0]
        let a = swapped.bytes[first..<first + 56]
        let b = swapped.bytes[last..<last + 56]
        swapped.bytes.replaceSubrange(first..<first + 56, with: b)
        swapped.bytes.replaceSubrange(last..<last + 56, with: a)
        let descending = try write(swapped, "descending.so", in: dir)
        #expect(outcome(descending).contains("ascending p_vaddr order"), "\(outcome(descending))")

        #expect(outcome(good) == "loaded")
    }

    // MARK: The dynamic table

    @Test func dynamicEntriesPointingOutsideTheImageAreRefusedBeforeDlopen() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try CPlugins.fixture("good.so", in: dir)
        let original = Image(bytes: try Data(contentsOf: URL(fileURLWithPath: good)))
        let dynamic = try #require(original.headers(2).first)

        func expectRefused(_ name: String, _ text: String, _ edit: (inout Image) throws -> Void) throws {
            var image = original
            try edit(&image)
            let file = try write(image, name, in: dir)
            let error = refusal(file)
            #expect(error?.description.contains("malformed ELF file") == true, "\(name): \(outcome(file))")
            #expect(error?.description.contains(text) == true, "\(name): \(outcome(file))")
        }
        try expectRefused("dynamic-outside.so", "PT_DYNAMIC at address 0x7fff0000") {
            $0.put64(0x7FFF_0000, at: dynamic + 16)
        }
        try expectRefused("unterminated.so", "without DT_NULL") { image in
            var at = Int(image.u64(dynamic + 8))
            while image.u64(at) != 0 { at += 16 }
            image.put64(0x6FFF_FEF4, at: at)  // an unknown tag instead of DT_NULL
            // Every later slot too, so no DT_NULL is left in PT_DYNAMIC.
            let end = Int(image.u64(dynamic + 8) + image.u64(dynamic + 32))
            while at + 16 <= end {
                image.put64(0x6FFF_FEF4, at: at)
                at += 16
            }
        }
        let wild: [(tag: UInt64, name: String, value: UInt64)] = [
            (5, "DT_STRTAB", 0x7FFF_FFFF_0000), (0x6FFF_FEF5, "DT_GNU_HASH", 0x1234_5678),
            (6, "DT_SYMTAB", UInt64.max - 8), (25, "DT_INIT_ARRAY", 0x4000_0000),
            (0x6FFF_FFF0, "DT_VERSYM", 0x10_0000), (0x6FFF_FFFE, "DT_VERNEED", 0x10_0000),
            (23, "DT_JMPREL", 0x10_0000),
        ]
        var patchedTags = 0
        for (tag, name, value) in wild {
            guard let entry = original.dynamicEntry(tag) else { continue }
            patchedTags += 1
            try expectRefused("wild-\(name).so", "\(name) at address 0x\(String(value, radix: 16))") {
                $0.put64(value, at: entry + 8)
            }
        }
        #expect(patchedTags >= 4, "the fixture has DT_STRTAB, DT_GNU_HASH, DT_SYMTAB and DT_INIT_ARRAY")
        // A size that runs the table out of its segment, overflow-checked.
        let sizes: [(tag: UInt64, name: String)] = [(27, "DT_INIT_ARRAY"), (10, "DT_STRTAB"), (2, "DT_JMPREL")]
        for (tag, name) in sizes {
            guard let entry = original.dynamicEntry(tag) else { continue }
            try expectRefused("huge-\(tag).so", "\(name) at address") { $0.put64(1 << 40, at: entry + 8) }
            try expectRefused("max-\(tag).so", "\(name) at address") { $0.put64(UInt64.max, at: entry + 8) }
        }
        // The fixture needs libc: its name's offset past DT_STRSZ.
        let needed = try #require(original.dynamicEntry(1))
        let strsz = try #require(original.dynamicEntry(10))
        try expectRefused("needed-offset.so", "DT_NEEDED at string offset") {
            $0.put64($0.u64(strsz + 8), at: needed + 8)
        }
        #expect(outcome(good) == "loaded")
    }

    @Test func sharedObjectsFromRealLinkersPassTheDynamicChecks() throws {
        // The system's libraries: they pass every check and are refused only
        // for not being plugins (dlopen ran).
        let cache = try runCommand(["/sbin/ldconfig", "-p"]).stdout
        let libraries = cache.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("libz.so.1 ") || line.contains("libstdc++.so.6 "),
                let path = line.split(separator: " ").last, path.hasPrefix("/")
            else { return nil }
            return String(path)
        }
        #expect(!libraries.isEmpty, "ldconfig -p lists libz or libstdc++")
        for library in libraries {
            #expect(refusal(library) == .missingEntry(file: library, symbol: "orchion_plugin_entry"), "\(library)")
        }
        // A plugin that needs a library through an absolute run path (the
        // default DT_RUNPATH and the older DT_RPATH) in a safe directory.
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lib = dir.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: false)
        #expect(chmod(lib.path, 0o755) == 0)
        let source = dir.appendingPathComponent("dep.c").path
        try "int dep_value(void) { return 7; }\n".write(toFile: source, atomically: true, encoding: .utf8)
        try compile(["-o", lib.appendingPathComponent("libdep.so").path, source])
        for (name, tags) in [("runpath.so", "--enable-new-dtags"), ("rpath.so", "--disable-new-dtags")] {
            let plugin = try CPlugins.fixture(
                name, in: dir, defines: ["FIXTURE_NAME=\"dep\""])
            try compile([
                "-I", Paths.root.appendingPathComponent("sdk/c/include").path, "-o", plugin,
                Paths.root.appendingPathComponent("Tests/Fixtures/fixture_plugin.c").path, "-L", lib.path,
                "-Wl,--no-as-needed", "-ldep",
                "-Wl,\(tags),-rpath,\(lib.path)",
            ])
            #expect(outcome(plugin) == "loaded", "\(name)")
        }
    }

    // MARK: The library search path (F2) and the libraries it finds (F5)

    /// Builds `libdep.so` in `libraryDir` and a plugin in `dir` that needs
    /// it, with `linkerFlags` (the run path).
    private func pluginNeedingDep(
        _ name: String, in dir: URL, libraryDir: URL, linkerFlags: [String], soname: String? = nil
    ) throws -> String {
        let source = dir.appendingPathComponent("dep.c").path
        try "int dep_value(void) { return 7; }\n".write(toFile: source, atomically: true, encoding: .utf8)
        let library = libraryDir.appendingPathComponent("libdep.so").path
        try compile(["-o", library, source] + (soname.map { ["-Wl,-soname,\($0)"] } ?? []))
        let plugin = dir.appendingPathComponent(name).path
        try compile(
            [
                "-I", Paths.root.appendingPathComponent("sdk/c/include").path, "-o", plugin,
                Paths.root.appendingPathComponent("Tests/Fixtures/fixture_plugin.c").path,
                // The fixture uses nothing from it: keep DT_NEEDED anyway.
                "-Wl,--no-as-needed", library,
            ] + linkerFlags)
        return plugin
    }

    @Test func runPathDirectoriesMustPassThePermissionRuleAndBeAbsolute() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let open = dir.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: false)
        for tags in ["--enable-new-dtags", "--disable-new-dtags"] {
            let plugin = try pluginNeedingDep(
                "ww\(tags).so", in: dir, libraryDir: open, linkerFlags: ["-Wl,\(tags),-rpath,\(open.path)"])
            #expect(chmod(open.path, 0o777) == 0)
            // The dependency's constructor would run as this user: refused.
            #expect(
                refusal(plugin)
                    == .unsafeLibraryPath(
                        file: plugin, entry: open.path,
                        reason: "\(open.path) is world-writable (mode 777), expected writable only by its owner "
                            + "(root or this user)"), "\(outcome(plugin))")
            #expect(chmod(open.path, 0o775) == 0)
            #expect(outcome(plugin).contains("is group-writable (mode 775)"), "\(outcome(plugin))")
            #expect(chmod(open.path, 0o755) == 0)
            #expect(outcome(plugin) == "loaded")
        }
        // A run path that does not exist is checked through its nearest
        // existing ancestor (whoever can write there could create it).
        #expect(chmod(open.path, 0o777) == 0)
        let missing = try pluginNeedingDep(
            "missing-dir.so", in: dir, libraryDir: dir,
            linkerFlags: ["-Wl,-rpath,\(open.path)/not-yet:\(dir.path)"])
        #expect(outcome(missing).contains("\(open.path) is world-writable"), "\(outcome(missing))")
        #expect(chmod(open.path, 0o755) == 0)
        #expect(outcome(missing) == "loaded")

        let relative = try pluginNeedingDep(
            "relative.so", in: dir, libraryDir: dir, linkerFlags: ["-Wl,-rpath,lib:\(dir.path)"])
        #expect(outcome(relative).contains("run path entry 'lib' is relative"), "\(outcome(relative))")
        let token = try pluginNeedingDep(
            "token.so", in: dir, libraryDir: dir, linkerFlags: ["-Wl,-rpath,/usr/$LIB:\(dir.path)"])
        #expect(outcome(token).contains("run path entry '/usr/$LIB' uses a $ token"), "\(outcome(token))")
    }

    @Test func aNeededLibraryThatIsNotARegularFileIsRefusedWithoutBeingOpened() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lib = dir.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: false)
        let library = lib.appendingPathComponent("libdep.so").path

        // Found through the run path.
        let plugin = try pluginNeedingDep(
            "through-runpath.so", in: dir, libraryDir: lib, linkerFlags: ["-Wl,-rpath,\(lib.path)"],
            soname: "libdep.so")
        #expect(outcome(plugin) == "loaded")
        try FileManager.default.removeItem(atPath: library)
        // Opening the FIFO would block dlopen (and the loader lock) forever.
        #expect(mkfifo(library, 0o644) == 0)
        #expect(
            refusal(plugin)
                == .unsafeDependency(
                    file: plugin, library: "libdep.so", found: "\(library): a FIFO", expected: "a regular file"))
        try FileManager.default.removeItem(atPath: library)
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: false)
        #expect(outcome(plugin).contains("\(library): a directory"), "\(outcome(plugin))")
        try FileManager.default.removeItem(atPath: library)
        try FileManager.default.createSymbolicLink(atPath: library, withDestinationPath: "/dev/zero")
        #expect(outcome(plugin).contains("\(library): a character device"), "\(outcome(plugin))")
        try FileManager.default.removeItem(atPath: library)

        // Named by an absolute path (the library's soname is one).
        let absolute = try pluginNeedingDep(
            "absolute.so", in: dir, libraryDir: lib, linkerFlags: [], soname: library)
        #expect(outcome(absolute) == "loaded")
        #expect(chmod(library, 0o666) == 0)
        #expect(outcome(absolute).contains("unsafe library '\(library)'"), "\(outcome(absolute))")
        #expect(outcome(absolute).contains("is world-writable (mode 666)"), "\(outcome(absolute))")
        try FileManager.default.removeItem(atPath: library)
        #expect(mkfifo(library, 0o644) == 0)
        #expect(
            refusal(absolute)
                == .unsafeDependency(
                    file: absolute, library: library, found: "\(library): a FIFO", expected: "a regular file"))
        try FileManager.default.removeItem(atPath: library)

        // $ORIGIN is /proc/self/fd under the snapshot load: a library named
        // "0" found there would be the host's standard input.
        let source = dir.appendingPathComponent("dep.c").path
        let zero = lib.appendingPathComponent("0").path
        try compile(["-o", zero, source, "-Wl,-soname,0"])
        let origin = dir.appendingPathComponent("origin.so").path
        try compile([
            "-I", Paths.root.appendingPathComponent("sdk/c/include").path, "-o", origin,
            Paths.root.appendingPathComponent("Tests/Fixtures/fixture_plugin.c").path, "-Wl,--no-as-needed", zero,
            "-Wl,-rpath,$ORIGIN",
        ])
        #expect(
            refusal(origin)
                == .unsafeDependency(
                    file: origin, library: "0", found: "/proc/self/fd/0, one of the host's open descriptors ($ORIGIN)",
                    expected: "a library in an absolute run path or the system's directories"), "\(outcome(origin))")

        // A relative path would be opened from the working directory.
        let relative = try pluginNeedingDep(
            "relative-needed.so", in: dir, libraryDir: lib, linkerFlags: [], soname: "lib/libdep.so")
        #expect(
            refusal(relative)
                == .unsafeDependency(
                    file: relative, library: "lib/libdep.so", found: "a relative path",
                    expected: "a name or an absolute path"))
    }
}
