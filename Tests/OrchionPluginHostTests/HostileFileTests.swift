import Foundation
import OrchionCore
import OrchionPluginHost
import TestSupport
import Testing

/// What a plugin *file* can be, each case a real file made in the test: the
/// loader refuses it with a reason and the test process survives.
@Suite struct HostileFileTests {

    private func isInconsistentELF(_ error: PluginError?) -> Bool {
        if case .inconsistentELF? = error { return true }
        return false
    }

    // MARK: Files that are not what they claim

    @Test func truncatedSharedObjectsAreRefusedBeforeDlopen() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try CPlugins.fixture("good.so", in: dir)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        for length in [64, 300, 4096, bytes.count / 2, bytes.count - 1] {
            let file = dir.appendingPathComponent("cut-\(length).so").path
            try bytes.prefix(length).write(to: URL(fileURLWithPath: file))
            let error = refusal(file)
            #expect(isInconsistentELF(error), "\(length) bytes: \(String(describing: error))")
        }
        // `truncate`, as a user's interrupted copy would leave it.
        let cut = dir.appendingPathComponent("truncated.so").path
        try FileManager.default.copyItem(atPath: good, toPath: cut)
        #expect(try runCommand(["truncate", "-s", "2000", cut]).status == 0)
        #expect(isInconsistentELF(refusal(cut)), "\(outcome(cut))")
    }

    @Test func headersThatDisagreeWithTheFileSizeAreRefused() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try CPlugins.fixture("good.so", in: dir)
        let original = try Data(contentsOf: URL(fileURLWithPath: good))
        func patched(_ name: String, _ edit: (inout Data) -> Void) throws -> String {
            var bytes = original
            edit(&bytes)
            let file = dir.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: file))
            return file
        }
        func put64(_ value: UInt64, at offset: Int, in bytes: inout Data) {
            for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        let phoff = original[32..<40].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
        let phnum = Int(original[56]) | Int(original[57]) << 8
        // The first PT_LOAD's program header.
        let firstLoad = try #require(
            (0..<phnum).map { Int(phoff) + $0 * 56 }.first { original[$0] == 1 && original[$0 + 1] == 0 })

        let farPH = try patched("phoff.so") { put64(UInt64(original.count) - 20, at: 32, in: &$0) }
        #expect(refusal(farPH)?.description.contains("program headers at") == true, "\(outcome(farPH))")
        let hugePH = try patched("phoff-wrap.so") { put64(UInt64.max - 8, at: 32, in: &$0) }
        #expect(isInconsistentELF(refusal(hugePH)), "\(outcome(hugePH))")
        let entsize = try patched("phentsize.so") { $0[54] = 12 }
        #expect(refusal(entsize)?.description.contains("e_phentsize 12") == true, "\(outcome(entsize))")
        let manyPH = try patched("phnum.so") {
            $0[56] = 0xF0
            $0[57] = 0x3F
        }
        #expect(isInconsistentELF(refusal(manyPH)), "\(outcome(manyPH))")
        let longLoad = try patched("filesz.so") { put64(UInt64(original.count) * 4, at: firstLoad + 32, in: &$0) }
        #expect(refusal(longLoad)?.description.contains("within the file's") == true, "\(outcome(longLoad))")
        let farLoad = try patched("offset.so") { put64(1 << 40, at: firstLoad + 8, in: &$0) }
        #expect(isInconsistentELF(refusal(farLoad)), "\(outcome(farLoad))")
        let farSH = try patched("shoff.so") { put64(UInt64(original.count) + 4096, at: 40, in: &$0) }
        #expect(refusal(farSH)?.description.contains("section headers at") == true, "\(outcome(farSH))")
        let executable = try patched("exec.so") { $0[16] = 2 }  // ET_EXEC
        #expect(refusal(executable)?.description.contains("e_type 2") == true, "\(outcome(executable))")
    }

    @Test func aFileTruncatedAfterLoadingDoesNotFaultTheHost() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("shrinking.so", in: dir, defines: ["FIXTURE_NAME=\"shrinking\""])
        let library = try PluginLibrary.open(file)
        // Had the file itself been mapped, touching its code now would SIGBUS.
        #expect(truncate(file, 0) == 0)
        try Data(repeating: 0xCC, count: 100).write(to: URL(fileURLWithPath: file))
        let plugin = try SchedulerPlugin(library)
        let view = ClusterView()
        try SyntheticCluster.nodes(8).forEach(view.upsert)
        let result = GuardedScheduler(plugin).schedule(JobBatch(SyntheticCluster.jobs(8)), in: view)
        #expect(result.failure == nil && result.invalid.isEmpty)
        #expect(!result.assignments.isEmpty, "the plugin's code ran from the snapshot")
    }

    @Test func specialFilesAreRefusedByTypeWithoutBeingOpened() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        #expect(mkfifo(path("fifo.so"), 0o644) == 0)
        try FileManager.default.createDirectory(atPath: path("dir.so"), withIntermediateDirectories: false)
        let socket = try runCommand([
            "python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path("socket.so"),
        ])
        #expect(socket.status == 0, "\(socket.stderr)")
        try FileManager.default.createSymbolicLink(atPath: path("loop-a.so"), withDestinationPath: path("loop-b.so"))
        try FileManager.default.createSymbolicLink(atPath: path("loop-b.so"), withDestinationPath: path("loop-a.so"))
        try FileManager.default.createSymbolicLink(atPath: path("zero.so"), withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: path("gone.so"), withDestinationPath: path("missing"))

        // Opening the FIFO for reading would block until a writer came.
        #expect(refusal(path("fifo.so")) == .notRegularFile(file: path("fifo.so"), found: "a FIFO"))
        #expect(refusal(path("dir.so")) == .notRegularFile(file: path("dir.so"), found: "a directory"))
        #expect(refusal(path("socket.so")) == .notRegularFile(file: path("socket.so"), found: "a socket"))
        #expect(
            refusal(path("loop-a.so")) == .notRegularFile(file: path("loop-a.so"), found: "a symbolic link loop"))
        // Reading /dev/zero would never end.
        #expect(refusal(path("zero.so")) == .notRegularFile(file: path("zero.so"), found: "a character device"))
        #expect(
            refusal(path("gone.so")) == .notRegularFile(file: path("gone.so"), found: "a dangling symbolic link"))
        if geteuid() == 0 {
            #expect(mknod(path("null.so"), S_IFCHR | 0o600, dev_t(1 << 8 | 3)) == 0)
            #expect(refusal(path("null.so")) == .notRegularFile(file: path("null.so"), found: "a character device"))
        }
        // A symlink to a good plugin is followed.
        let good = try CPlugins.fixture("real.so", in: dir, defines: ["FIXTURE_NAME=\"linked\""])
        try FileManager.default.createSymbolicLink(atPath: path("link.so"), withDestinationPath: good)
        #expect(outcome(path("link.so")) == "loaded")
    }

    @Test func anEntrySymbolThatIsDataIsRefusedWithoutBeingCalled() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.hostile("data.so", in: dir, defines: ["HOSTILE_DATA_ENTRY"])
        #expect(
            refusal(file)
                == .entryNotFunction(file: file, symbol: "orchion_plugin_entry", found: "a data object"))
    }

    // MARK: Permissions

    @Test func filesAndDirectoriesOthersCanWriteAreRefusedNamingThePath() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.fixture("shared.so", in: dir)
        #expect(chmod(file, 0o666) == 0)
        #expect(
            refusal(file)
                == .unsafePermissions(file: file, path: file, reason: "is world-writable (mode 666)"))
        #expect(chmod(file, 0o664) == 0)
        #expect(refusal(file) == .unsafePermissions(file: file, path: file, reason: "is group-writable (mode 664)"))
        #expect(chmod(file, 0o644) == 0)
        #expect(outcome(file) == "loaded")

        let parent = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: parent) }
        let open = parent.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: false)
        let inside = try CPlugins.fixture("inside.so", in: open)
        #expect(chmod(open.path, 0o777) == 0)
        let error = try #require(refusal(inside))
        #expect(error == .unsafePermissions(file: inside, path: open.path, reason: "is world-writable (mode 777)"))
        #expect(error.description.contains("\(open.path) is world-writable"))
        // The sticky bit (as on /tmp) makes a shared directory safe.
        #expect(chmod(open.path, 0o1777) == 0)
        #expect(outcome(inside) == "loaded")

        if geteuid() == 0 {
            let owned = try CPlugins.fixture("owned.so", in: dir, defines: ["FIXTURE_NAME=\"owned\""])
            #expect(chown(owned, 4242, 4242) == 0 && chmod(owned, 0o644) == 0)
            #expect(
                refusal(owned)
                    == .unsafePermissions(file: owned, path: owned, reason: "is owned by uid 4242 (mode 644)"))
        }
    }

    @Test(.enabled(if: geteuid() == 0, "making a link another user owns needs root"))
    func aSymlinkInAStickyDirectoryIsFollowedOnlyWhenRootOrTheUserOwnsIt() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = try CPlugins.fixture("target.so", in: dir)
        let sticky = dir.appendingPathComponent("sticky")
        try FileManager.default.createDirectory(at: sticky, withIntermediateDirectories: false)
        #expect(chmod(sticky.path, 0o1777) == 0)
        let planted = sticky.appendingPathComponent("planted.so").path
        #expect(symlink(target, planted) == 0)
        #expect(lchown(planted, 12345, 12345) == 0)
        let error = try #require(refusal(planted))
        guard case .unsafePermissions(_, let path, let reason) = error else {
            Issue.record("expected unsafe permissions, found \(error)")
            return
        }
        #expect(path == planted)
        #expect(reason.contains("symbolic link owned by uid 12345 in sticky directory"), "\(reason)")
        // The same link owned by root is followed.
        #expect(lchown(planted, 0, 0) == 0)
        #expect(outcome(planted) == "loaded")
    }

    @Test func aNonELFFileReachedThroughALinkIsRefusedWithoutQuotingItsBytes() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("secret.txt").path
        try "root:secret".write(toFile: text, atomically: false, encoding: .utf8)
        let link = dir.appendingPathComponent("secret.so").path
        #expect(symlink(text, link) == 0)
        for error in [refusal(link), Result { () throws(PluginError) in try PluginProbe.precheck(link) }.error] {
            let description = try #require(error?.description)
            #expect(description.contains("not ELF"), "\(description)")
            #expect(!description.contains("72 6f 6f 74") && !description.contains("root"), "\(description)")
        }
        // A file named directly still shows its first bytes (its owner chose to name it).
        let direct = dir.appendingPathComponent("direct.so").path
        try "root:secret".write(toFile: direct, atomically: false, encoding: .utf8)
        #expect(refusal(direct)?.description.contains("found bytes 72 6f 6f 74") == true)
    }

    // MARK: Probing in a child

    @Test func aProbeChecksTheFileInTheParentBeforeStartingAChild() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.so").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let good = try CPlugins.fixture("good.so", in: dir)
        // A probe whose child cannot even start: only a file that passes the
        // checks needing no plugin code would try to start it.
        let probe = PluginProbe(executable: dir.appendingPathComponent("missing-orchion").path, timeoutMillis: 5000)
        let emptyError = probe.probe(empty).error?.description ?? ""
        #expect(emptyError.contains("not a shared object: found an empty file"), "\(emptyError)")
        let goodError = probe.probe(good).error?.description ?? ""
        #expect(goodError.contains("cannot start a probe process"), "\(goodError)")
    }

    @Test func probingManyHangingFilesRunsChildrenConcurrentlyAndKeepsTheirOrder() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A "probe" that never answers: each costs the whole timeout.
        let hang = dir.appendingPathComponent("hang.sh").path
        try "#!/bin/sh\nexec sleep 30\n".write(toFile: hang, atomically: false, encoding: .utf8)
        #expect(chmod(hang, 0o755) == 0)
        let good = try CPlugins.fixture("good.so", in: dir)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let files = try (1...4).map { index in
            let file = dir.appendingPathComponent("copy-\(index).so").path
            try bytes.write(to: URL(fileURLWithPath: file))
            return file
        }
        let probe = PluginProbe(executable: hang, timeoutMillis: 1500)
        let started = Date()
        let results = probe.probeAll(files, concurrency: 2)
        let elapsed = Date().timeIntervalSince(started)
        // Two at a time: about 2 x 1.5 s; one at a time would be 6 s.
        #expect(elapsed >= 2.9 && elapsed < 5.5, "took \(elapsed) s")
        #expect(results.count == files.count)
        for (file, result) in zip(files, results) {
            let reason = result.error?.description ?? "loaded"
            #expect(reason.hasPrefix(file + ": plugin did not finish in time (killed)"), "\(reason)")
        }
    }

    @Test func asRootTheEnvironmentAndHomeDirectoriesAreSearchedOnlyWhenAsked() {
        let environment = ["ORCHION_PLUGINS_PATH": "/env-a:/env-b", "HOME": "/home/someone"]
        let asRoot = PluginDirectory.searchPath(flags: ["/flag"], environment: environment, userID: 0)
        #expect(asRoot.filter { $0.source == .environment || $0.source == .user }.isEmpty)
        #expect(asRoot.first == PluginDirectory(path: "/flag", source: .flag))
        let asked = PluginDirectory.searchPath(
            environment: environment, userID: 0, userDirectoriesAsRoot: true)
        #expect(asked.filter { $0.source == .environment }.map(\.path) == ["/env-a", "/env-b"])
        #expect(asked.contains(PluginDirectory(path: "/home/someone/.local/share/orchion/plugins", source: .user)))
        let asUser = PluginDirectory.searchPath(environment: environment, userID: 1000)
        #expect(asUser.filter { $0.source == .environment }.count == 2)
    }

    // MARK: Descriptors whose sizes and strings lie

    @Test func descriptorAndVtableSizesAreCheckedBeforeTheirFieldsAreRead() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny = try CPlugins.hostile("tiny.so", in: dir, defines: ["HOSTILE_DESCRIPTOR_SIZE=4"])
        #expect(
            refusal(tiny)
                == .structTooSmall(file: tiny, structName: "orchion_plugin_descriptor", found: 4, expected: 48))
        let vtable = try CPlugins.hostile("vtable.so", in: dir, defines: ["HOSTILE_VTABLE_SIZE=16"])
        #expect(
            refusal(vtable)
                == .structTooSmall(file: vtable, structName: "orchion_scheduler_vtable", found: 16, expected: 32))
        // A larger size than this host knows is a newer minor's: only the
        // fields this host knows are read.
        let big = try CPlugins.hostile("big.so", in: dir, defines: ["HOSTILE_DESCRIPTOR_SIZE=4096"])
        #expect(outcome(big) == "loaded")
    }

    @Test func aVtableFunctionPointingAtNoCodeIsRefusedBeforeItIsCalled() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try CPlugins.hostile("garbage.so", in: dir, defines: ["HOSTILE_GARBAGE_PLACE"])
        #expect(
            refusal(file)
                == .invalidDescriptor(
                    file: file, field: "orchion_scheduler_vtable.place", expected: "a function in loaded code",
                    found: "address 0x41414141"))
    }

    @Test func aDescriptorWhoseDeclaredSizeRunsPastItsMappingIsRefusedNotRead() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let memory = try #require(
            mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0).flatMap {
                UInt(bitPattern: $0) == UInt.max ? nil : $0  // MAP_FAILED
            })
        defer { munmap(memory, 2 * page) }
        #expect(mprotect(memory + page, page, PROT_NONE) == 0)
        // The 8-byte header claims 48 bytes; the page ends right after it.
        let header = memory + page - 8
        header.storeBytes(of: UInt32(48), as: UInt32.self)
        (header + 4).storeBytes(of: HostABI.major, as: UInt16.self)
        (header + 6).storeBytes(of: HostABI.minor, as: UInt16.self)
        #expect(
            throws: PluginError.invalidDescriptor(
                file: "lying", field: "kind", expected: "a readable field", found: "an unreadable address")
        ) { _ = try PluginLibrary.validate(liveDescriptor: header, file: "lying") }
        // A name pointer into the unreadable page.
        #expect(throws: PluginError.self) {
            let descriptor = memory + 64
            descriptor.storeBytes(of: UInt32(48), as: UInt32.self)
            (descriptor + 4).storeBytes(of: HostABI.major, as: UInt16.self)
            (descriptor + 6).storeBytes(of: HostABI.minor, as: UInt16.self)
            (descriptor + 8).storeBytes(of: Int32(1), as: Int32.self)
            (descriptor + 16).storeBytes(of: UInt(bitPattern: memory + page + 16), as: UInt.self)
            _ = try PluginLibrary.validate(liveDescriptor: descriptor, file: "name")
        }
    }

    @Test func descriptorFieldsPastTheDeclaredSizeAreNeverTouched() throws {
        // Two pages, the second inaccessible: reading one byte past what is
        // declared kills the test process.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let memory = try #require(
            mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0).flatMap {
                UInt(bitPattern: $0) == UInt.max ? nil : $0  // MAP_FAILED
            })
        defer { munmap(memory, 2 * page) }
        #expect(mprotect(memory + page, page, PROT_NONE) == 0)
        let end = memory + page

        // A descriptor that declares only its 8-byte header.
        (end - 8).storeBytes(of: UInt32(8), as: UInt32.self)
        (end - 4).storeBytes(of: HostABI.major, as: UInt16.self)
        (end - 2).storeBytes(of: HostABI.minor, as: UInt16.self)
        #expect(
            throws: PluginError.structTooSmall(
                file: "header", structName: "orchion_plugin_descriptor", found: 8, expected: 48)
        ) { _ = try PluginLibrary.validate(liveDescriptor: end - 8, file: "header") }

        // A whole descriptor whose vtable declares 16 bytes and ends at the guard page.
        let vtable = end - 16
        vtable.storeBytes(of: UInt32(16), as: UInt32.self)
        let name = memory + 64
        let version = memory + 80
        for (index, byte) in Array("lying\0".utf8).enumerated() { (name + index).storeBytes(of: byte, as: UInt8.self) }
        for (index, byte) in Array("1\0".utf8).enumerated() { (version + index).storeBytes(of: byte, as: UInt8.self) }
        let descriptor = memory + 128
        descriptor.storeBytes(of: UInt32(48), as: UInt32.self)
        (descriptor + 4).storeBytes(of: HostABI.major, as: UInt16.self)
        (descriptor + 6).storeBytes(of: HostABI.minor, as: UInt16.self)
        (descriptor + 8).storeBytes(of: Int32(1), as: Int32.self)
        (descriptor + 16).storeBytes(of: UInt(bitPattern: name), as: UInt.self)
        (descriptor + 24).storeBytes(of: UInt(bitPattern: version), as: UInt.self)
        (descriptor + 32).storeBytes(of: UInt(0), as: UInt.self)
        (descriptor + 40).storeBytes(of: UInt(bitPattern: vtable), as: UInt.self)
        #expect(
            throws: PluginError.structTooSmall(
                file: "vtable", structName: "orchion_scheduler_vtable", found: 16, expected: 32)
        ) { _ = try PluginLibrary.validate(liveDescriptor: descriptor, file: "vtable") }
    }

    @Test func descriptorStringsAreBoundedAndMustBeUTF8() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = try CPlugins.hostile("long.so", in: dir, defines: ["HOSTILE_UNTERMINATED"])
        #expect(
            refusal(long)
                == .invalidDescriptor(
                    file: long, field: "name", expected: "a NUL-terminated string of at most 63 bytes",
                    found: "no NUL within 63 bytes"))
        let latin1 = try CPlugins.hostile("latin1.so", in: dir, defines: ["HOSTILE_VERSION=\"1.0-\\xe9t\\xe9\""])
        #expect(
            refusal(latin1)
                == .invalidDescriptor(file: latin1, field: "version", expected: "UTF-8 text", found: "invalid UTF-8"))
        // Control characters are kept (and escaped by whoever prints them).
        let controls = try CPlugins.hostile(
            "controls.so", in: dir, defines: ["HOSTILE_DESCRIPTION=\"one\\nrefused: forged\\x1b[2J\""])
        #expect(try PluginLibrary.open(controls).info.description == "one\nrefused: forged\u{1B}[2J")
    }

    @Test func descriptorBytesAreValidatedWithinTheirBounds() throws {
        // The fuzzing entry point: pointers are offsets into the same bytes.
        var bytes = [UInt8](repeating: 0, count: 160)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) {
                for (index, byte) in $0.enumerated() { bytes[offset + index] = byte }
            }
        }
        put(UInt32(48), at: 0)
        put(HostABI.major, at: 4)
        put(HostABI.minor, at: 6)
        put(Int32(1), at: 8)
        put(UInt64(100), at: 16)  // name
        put(UInt64(110), at: 24)  // version
        put(UInt64(0), at: 32)  // description: NULL
        put(UInt64(120), at: 40)  // vtable
        for (index, byte) in Array("fuzzed\0".utf8).enumerated() { bytes[100 + index] = byte }
        for (index, byte) in Array("2.0\0".utf8).enumerated() { bytes[110 + index] = byte }
        put(UInt32(32), at: 120)
        for field in [128, 136, 144] { put(UInt64(1), at: field) }
        func check(_ bytes: [UInt8]) -> Result<PluginInfo, PluginError> {
            bytes.withUnsafeBytes { raw in
                Result { () throws(PluginError) in
                    guard let base = raw.baseAddress else { throw .nullDescriptor(file: "empty") }
                    return try PluginLibrary.validateDescriptor(base, readable: raw.count, file: "fuzz")
                }
            }
        }
        let info = try check(bytes).get()
        #expect(info.name == "fuzzed" && info.version == "2.0" && info.description == "" && info.kind == .scheduler)
        // The vtable cut short by the end of the bytes.
        #expect(
            throws: PluginError.invalidDescriptor(
                file: "fuzz", field: "orchion_scheduler_vtable.place", expected: "a function", found: "NULL")
        ) { try check(Array(bytes.prefix(150))).get() }
        // A name pointer past the end.
        var outside = bytes
        outside[16] = 250
        #expect(throws: PluginError.self) { try check(outside).get() }
        // Every prefix and a stream of random bytes: an answer, never a crash.
        for length in 0...bytes.count { _ = check(Array(bytes.prefix(length))) }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            var noise = bytes
            for _ in 0..<4 { noise[Int.random(in: 0..<noise.count, using: &random)] = UInt8.random(in: 0...255) }
            _ = check(noise)
        }
    }
}

extension Result {
    /// The failure, when there is one.
    fileprivate var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
