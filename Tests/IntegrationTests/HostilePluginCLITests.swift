import Foundation
import TestSupport
import Testing

/// The real `orchion` binary against plugin files that exit, crash, hang,
/// lie or print: each is refused with its reason and the command goes on.
@Suite struct HostilePluginCLITests {
    private func orchion(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
        try runCommand([Paths.orchion] + arguments, timeout: timeout)
    }

    private func json(_ text: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "\(text)")
    }

    /// Builds every kind of bad file, and two good plugins, in `dir`.
    /// Returns each bad file's name with a phrase its refusal must contain.
    private func populate(_ dir: URL) throws -> [(String, String)] {
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let fm = FileManager.default
        try CPlugins.fixture("good-a.so", in: dir, defines: ["FIXTURE_NAME=\"good-a\""])
        try CPlugins.fixture("good-b.so", in: dir, defines: ["FIXTURE_NAME=\"good-b\""])
        try CPlugins.hostile("chatty.so", in: dir, defines: ["HOSTILE_NAME=\"chatty\"", "HOSTILE_CTOR_STDOUT"])
        try CPlugins.hostile(
            "controls.so", in: dir,
            defines: [
                "HOSTILE_NAME=\"controls\"", "HOSTILE_VERSION=\"1\\nrefused: forged\\x1b[31m\"",
                "HOSTILE_DESCRIPTION=\"d\\x1b]0;title\\x07\"",
            ])
        try CPlugins.fixture("newline\nrefused: forged.so", in: dir, defines: ["FIXTURE_NAME=\"newline\""])
        try CPlugins.fixture(".hidden.so", in: dir, defines: ["FIXTURE_NAME=\"hidden\""])
        try CPlugins.fixture("notes.txt", in: dir, defines: ["FIXTURE_NAME=\"notes\""])

        try "just text".write(toFile: path("text.so"), atomically: false, encoding: .utf8)
        let good = try Data(contentsOf: URL(fileURLWithPath: path("good-a.so")))
        try good.prefix(3000).write(to: URL(fileURLWithPath: path("truncated.so")))
        var farHeaders = good
        farHeaders[32] = 0xF0
        farHeaders[33] = 0xFF
        farHeaders[34] = 0xFF
        try farHeaders.write(to: URL(fileURLWithPath: path("phoff.so")))
        #expect(mkfifo(path("fifo.so"), 0o644) == 0)
        try fm.createDirectory(atPath: path("dir.so"), withIntermediateDirectories: false)
        let socket = try runCommand([
            "python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path("socket.so"),
        ])
        #expect(socket.status == 0)
        try fm.createSymbolicLink(atPath: path("loop-a.so"), withDestinationPath: path("loop-b.so"))
        try fm.createSymbolicLink(atPath: path("loop-b.so"), withDestinationPath: path("loop-a.so"))
        try fm.createSymbolicLink(atPath: path("zero.so"), withDestinationPath: "/dev/zero")
        try CPlugins.hostile("data-entry.so", in: dir, defines: ["HOSTILE_DATA_ENTRY"])
        try CPlugins.hostile("ctor-exit.so", in: dir, defines: ["HOSTILE_CTOR_EXIT=3"])
        try CPlugins.hostile("ctor-segv.so", in: dir, defines: ["HOSTILE_CTOR_SEGV"])
        try CPlugins.hostile("ctor-hang.so", in: dir, defines: ["HOSTILE_CTOR_HANG"])
        try CPlugins.fixture("shared.so", in: dir, defines: ["FIXTURE_NAME=\"shared\""])
        #expect(chmod(path("shared.so"), 0o666) == 0)
        try CPlugins.hostile("tiny-descriptor.so", in: dir, defines: ["HOSTILE_DESCRIPTOR_SIZE=4"])
        try CPlugins.hostile("tiny-vtable.so", in: dir, defines: ["HOSTILE_VTABLE_SIZE=16"])
        try CPlugins.hostile("unterminated.so", in: dir, defines: ["HOSTILE_UNTERMINATED"])
        try CPlugins.hostile("latin1.so", in: dir, defines: ["HOSTILE_VERSION=\"\\xe9\""])
        try CPlugins.fixture("major.so", in: dir, defines: ["FIXTURE_MAJOR=2"])
        try CPlugins.fixture("twin.so", in: dir, defines: ["FIXTURE_NAME=\"good-a\""])
        try CPlugins.hostile("garbage-place.so", in: dir, defines: ["HOSTILE_GARBAGE_PLACE"])
        return [
            ("text.so", "not a shared object: found bytes 6a 75 73 74"),
            ("truncated.so", "malformed ELF file"),
            ("phoff.so", "malformed ELF file: found program headers at"),
            ("fifo.so", "not a regular file: found a FIFO"),
            ("dir.so", "not a regular file: found a directory"),
            ("socket.so", "not a regular file: found a socket"),
            ("loop-a.so", "a symbolic link loop"),
            ("loop-b.so", "a symbolic link loop"),
            ("zero.so", "not a regular file: found a character device"),
            ("data-entry.so", "orchion_plugin_entry is not a function: found a data object"),
            ("ctor-exit.so", "plugin called exit(3) while loading"),
            ("ctor-segv.so", "plugin crashed with signal 11 (SIGSEGV) while loading"),
            ("ctor-hang.so", "plugin did not finish in time (killed) while loading"),
            ("shared.so", "is world-writable (mode 666)"),
            ("tiny-descriptor.so", "orchion_plugin_descriptor is too small: found 4 bytes"),
            ("tiny-vtable.so", "orchion_scheduler_vtable is too small: found 16 bytes"),
            ("unterminated.so", "invalid name: found no NUL within 63 bytes"),
            ("latin1.so", "invalid version: found invalid UTF-8"),
            ("major.so", "incompatible ABI: found major 2"),
            ("twin.so", "duplicate plugin name 'good-a'"),
            ("garbage-place.so", "invalid orchion_scheduler_vtable.place: found address 0x41414141"),
        ]
    }

    @Test func listOverEveryBadFileAtOnceRefusesEachAndLoadsEveryGoodOne() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = try populate(dir)
        let goodNames = ["good-a", "good-b", "chatty", "controls", "newline"]

        let started = Date()
        let result = try orchion(["plugin", "list", "--json", "--plugins-dir", dir.path, "--probe-timeout", "3"])
        #expect(Date().timeIntervalSince(started) < 40, "bounded: one hang costs its probe timeout")
        #expect(result.status == 0, "\(result.stderr)")
        let entries = try json(result.stdout)
        let byFile = Dictionary(
            entries.compactMap { entry in (entry["file"] as? String).map { ($0, entry) } },
            uniquingKeysWith: { first, _ in first })
        for (name, phrase) in bad {
            let entry = byFile[dir.appendingPathComponent(name).path]
            #expect(entry?["state"] as? String == "refused", "\(name): \(String(describing: entry))")
            #expect((entry?["reason"] as? String)?.contains(phrase) == true, "\(name): \(String(describing: entry))")
        }
        for name in goodNames {
            #expect(
                entries.contains { $0["name"] as? String == name && $0["state"] as? String == "loaded" },
                "\(name) should load")
        }
        for name in ["bin-packing", "exec"] {
            #expect(entries.contains { $0["name"] as? String == name && $0["state"] as? String == "loaded" })
        }
        #expect(!entries.contains { ($0["file"] as? String)?.hasSuffix(".hidden.so") == true })
        #expect(!entries.contains { ($0["file"] as? String)?.hasSuffix("notes.txt") == true })
        #expect(result.stderr.contains("{\"forged\": true}"), "a constructor's stdout goes to stderr")
        let controls = entries.first { $0["name"] as? String == "controls" }
        #expect(controls?["version"] as? String == "1\nrefused: forged\u{1B}[31m", "JSON carries the string exactly")

        let table = try orchion(["plugin", "list", "--plugins-dir", dir.path, "--probe-timeout", "3"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(!table.stdout.contains("\u{1B}"), "no terminal escape reaches the terminal")
        #expect(!lines.contains { $0.hasPrefix("refused: forged") }, "no plugin string starts a line")
        #expect(lines.contains { $0.hasPrefix("controls ") && $0.contains("1\\nrefused: forged\\x1b[31m") })
        #expect(table.stdout.contains("newline\\nrefused: forged.so"))
        for (name, phrase) in bad {
            #expect(
                lines.contains { $0.hasPrefix("refused: ") && $0.contains(name) && $0.contains(phrase) },
                "\(name)\n\(table.stdout)")
        }
        for name in goodNames {
            #expect(lines.contains { $0.hasPrefix(name + " ") && $0.contains(" loaded ") }, "\(name)")
        }
    }

    @Test func inspectKeepsStdoutForItsAnswerAndEscapesPluginStrings() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chatty = try CPlugins.hostile("chatty.so", in: dir, defines: ["HOSTILE_CTOR_STDOUT"])
        let result = try orchion(["plugin", "inspect", "--json", chatty])
        #expect(result.status == 0)
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(entry["name"] as? String == "hostile")
        #expect(result.stderr.contains("{\"forged\": true}"))

        let controls = try CPlugins.hostile(
            "controls.so", in: dir, defines: ["HOSTILE_DESCRIPTION=\"x\\nname:        forged\\x1b[2J\""])
        let human = try orchion(["plugin", "inspect", controls])
        #expect(human.stdout.contains("description: x\\nname:        forged\\x1b[2J"), "\(human.stdout)")
        #expect(!human.stdout.contains("\nname:        forged"))

        let exits = try CPlugins.hostile("exits.so", in: dir, defines: ["HOSTILE_CTOR_EXIT=3"])
        let refused = try orchion(["plugin", "inspect", exits])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("refused: \(exits): plugin called exit(3) while loading"))
    }

    @Test func checkFailsAPluginThatExitsInsteadOfDyingWithIt() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inInit = try CPlugins.hostile("init-exit.so", in: dir, defines: ["HOSTILE_INIT_EXIT=3"])
        let result = try orchion(["plugin", "check", inInit])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  plugin called exit(3) during init"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("check FAILED\n"))

        let onLoad = try CPlugins.hostile("ctor-exit.so", in: dir, defines: ["HOSTILE_CTOR_EXIT=0"])
        let loading = try orchion(["plugin", "check", onLoad])
        #expect(loading.status == 1, "exit(0) is not a pass")
        #expect(
            loading.stdout.contains("FAIL  plugin exited with status 0 without answering (it called exit(0)"),
            "\(loading.stdout)")

        let crash = try CPlugins.hostile("ctor-segv.so", in: dir, defines: ["HOSTILE_CTOR_SEGV"])
        let crashed = try orchion(["plugin", "check", crash])
        #expect(crashed.status == 1)
        #expect(crashed.stdout.contains("FAIL  plugin crashed with signal 11 (SIGSEGV) while loading"))
    }

    @Test func aDaemonisingConstructorNeitherDelaysTheAnswerNorOutlivesTheCommand() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let daemon = try CPlugins.hostile(
            "daemon.so", in: dir, defines: ["HOSTILE_NAME=\"daemon\"", "HOSTILE_CTOR_DAEMON"])
        for command in [["inspect", daemon], ["list", "--plugins-dir", dir.path]] {
            let pidFile = dir.appendingPathComponent("daemon.pid").path
            try? FileManager.default.removeItem(atPath: pidFile)
            var environment = ProcessInfo.processInfo.environment
            environment["HOSTILE_DAEMON_PID_FILE"] = pidFile
            let started = Date()
            // runCommand reads stdout and stderr to EOF: a leftover holding
            // them would keep it waiting the grandchild's 20 s.
            let result = try runCommand(
                [Paths.orchion, "plugin"] + command + ["--probe-timeout", "30"], environment: environment, timeout: 60)
            let elapsed = Date().timeIntervalSince(started)
            let text = try String(contentsOfFile: pidFile, encoding: .utf8)
            let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), "\(text)")
            // The command reaped it before it ended: nothing to wait for.
            let gone = kill(pid, 0) != 0 && errno == ESRCH
            if !gone { kill(pid, SIGKILL) }
            #expect(gone, "\(command[0]): the detached grandchild \(pid) outlived the command")
            #expect(elapsed < 15, "\(command[0]) took \(elapsed) s: it waited for the grandchild")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("daemon"), "\(result.stdout)")
            #expect(!result.stdout.contains("refused"), "\(result.stdout)")
        }
    }

    @Test func aConstructorThatClosesTheAnswerDescriptorIsNotReportedAsExiting() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let closer = try CPlugins.hostile("closer.so", in: dir, defines: ["HOSTILE_CTOR_CLOSE_ANSWER"])
        let result = try orchion(["plugin", "inspect", closer])
        #expect(result.status == 2)
        #expect(
            result.stderr.contains("without answering (it called exit(0), or closed or replaced descriptor 3)"),
            "\(result.stderr)")
        #expect(!result.stderr.contains("called exit(0) while"), "\(result.stderr)")
    }

    @Test func aCheckThatTimesOutNamesThePhaseItWasIn() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let stuck = try CPlugins.hostile("stuck.so", in: dir, defines: ["HOSTILE_PLACE=4"])
        let result = try orchion(["plugin", "check", stuck, "--timeout", "3"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  plugin did not finish in time (killed) during place"), "\(result.stdout)")
        #expect(!result.stdout.contains("while loading"), "\(result.stdout)")
    }

    @Test func namesThatAreNotUTF8AreListedAsRefusedWithTheirBytesEscaped() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try runCommand([
            "python3", "-c", "import os,sys; open(os.fsencode(sys.argv[1]) + b'/bad\\xff\\xfe.so', 'wb').close()",
            dir.path,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let result = try orchion(["plugin", "list", "--json", "--plugins-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let entry = try json(result.stdout).first { ($0["file"] as? String)?.hasPrefix(dir.path) == true }
        #expect(entry?["file"] as? String == dir.path + "/bad\\xff\\xfe.so", "\(String(describing: entry))")
        #expect(entry?["state"] as? String == "refused")
        #expect((entry?["reason"] as? String)?.contains("its name is not UTF-8") == true)
    }

    @Test func checkFailsEmptyReasonsNotReadyNodesAndSlowCalls() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = try CPlugins.hostile("empty.so", in: dir, defines: ["HOSTILE_PLACE=1"])
        let silent = try orchion(["plugin", "check", empty])
        #expect(silent.status == 1)
        #expect(silent.stdout.contains("FAIL  64 jobs: 64 job(s) left pending with an empty reason: job-0, job-1"))
        #expect(silent.stdout.contains("FAIL  empty cluster: 4 job(s) left pending with an empty reason"))
        #expect(silent.stdout.contains("FAIL  placed at least one job (64 of 64 fit a ready node on their own)"))

        let notReady = try CPlugins.hostile("not-ready.so", in: dir, defines: ["HOSTILE_PLACE=2"])
        let onDown = try orchion(["plugin", "check", notReady])
        #expect(onDown.status == 1)
        #expect(onDown.stdout.contains("FAIL  placed 0 of 64 jobs on 32 nodes (2 not ready); 64 pending, 64 invalid"))
        #expect(onDown.stdout.contains("node node-5 is draining: expected ready"), "\(onDown.stdout)")

        let slow = try CPlugins.hostile("slow.so", in: dir, defines: ["HOSTILE_PLACE=3"])
        let late = try orchion(["plugin", "check", slow, "--budget-ms", "100"])
        #expect(late.status == 1)
        #expect(
            late.stdout.split(separator: "\n").contains {
                $0.hasPrefix("FAIL  slowest place() call: ") && $0.hasSuffix("budget 100 ms")
            }, "\(late.stdout)")
        let patient = try orchion(["plugin", "check", slow, "--budget-ms", "5000"])
        #expect(patient.stdout.contains("ok    slowest place() call: "), "\(patient.stdout)")
    }
}
