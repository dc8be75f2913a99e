import Glibc
import OrchionCore
import OrchionLoop
import Testing

/// What a finished child printed and how it ended.
struct Finished: Sendable {
    var stdout = ""
    var stderr = ""
    var status = ExitStatus(code: -1, signal: 0)
}

extension EventLoop {
    /// Spawns `options`, collects its output to EOF and its exit status.
    /// `started` runs on the loop right after spawn; `output` after each
    /// chunk of stdout, with everything read so far.
    func runChild(
        _ options: ProcessOptions, within seconds: Double = 20,
        started: @escaping @Sendable (ChildProcess) -> Void = { _ in },
        output: @escaping @Sendable (ChildProcess, String) -> Void = { _, _ in }
    ) async throws -> Finished {
        try await run(within: seconds) { finish in
            var result = Finished()
            var pending = 3
            func done() {
                pending -= 1
                if pending == 0 { finish(result) }
            }
            let child = try ChildProcess(loop: self, options: options) { status in
                result.status = status
                done()
            }
            for (pipe, isOut) in [(child.stdout!, true), (child.stderr!, false)] {
                try pipe.startReading { event in
                    switch event {
                    case .data(let bytes):
                        if isOut {
                            result.stdout += String(decoding: bytes, as: UTF8.self)
                            output(child, result.stdout)
                        } else {
                            result.stderr += String(decoding: bytes, as: UTF8.self)
                        }
                    case .eof, .error:
                        pipe.close()
                        done()
                    }
                }
            }
            started(child)
        }
    }
}

@Suite struct ChildProcessTests {
    @Test func capturesOutputAndExitCode() async throws {
        let result = try await withLoop { loop in
            var options = ProcessOptions(arguments: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
            options.environment = ["PATH=/usr/bin:/bin"]
            return try await loop.runChild(options)
        }
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        #expect(result.status == ExitStatus(code: 3, signal: 0))
    }

    /// The host ignores SIGPIPE (a vanished peer must not kill it); a job must
    /// not inherit that, or `producer | head` in a job would never end its producer.
    @Test func childrenStartWithSIGPIPEAtItsDefault() async throws {
        let result = try await withLoop { loop in
            return try await loop.runChild(
                ProcessOptions(arguments: ["/bin/sh", "-c", "grep '^SigIgn:' /proc/self/status"]))
        }
        let mask = UInt64(String(result.stdout.dropFirst("SigIgn:".count).filter(\.isHexDigit)), radix: 16)
        let sigpipeBit = UInt64(1) << (UInt64(SIGPIPE) - 1)
        #expect(mask.map { $0 & sigpipeBit == 0 } == true, "SigIgn of the child: \(result.stdout)")
    }

    @Test func passesEnvironmentAndWorkingDirectory() async throws {
        let result = try await withLoop { loop in
            var options = ProcessOptions(arguments: ["/bin/sh", "-c", "echo $GREETING; pwd"])
            options.environment = ["GREETING=hello"]
            options.workingDirectory = "/"
            return try await loop.runChild(options)
        }
        #expect(result.stdout == "hello\n/\n")
    }

    @Test func writesToStdin() async throws {
        let result = try await withLoop { loop in
            var options = ProcessOptions(arguments: ["/bin/cat"])
            options.stdin = .pipe
            return try await loop.runChild(options) { child in
                child.stdin!.write(Array("piped through\n".utf8))
                child.stdin!.shutdown { _ in child.stdin!.close() }
            }
        }
        #expect(result.stdout == "piped through\n")
    }

    @Test func killReachesTheWholeProcessGroup() async throws {
        let result = try await withLoop { loop in
            // The shell starts a grandchild and prints its pid, then waits;
            // the group is killed once the pid has arrived.
            let options = ProcessOptions(arguments: ["/bin/sh", "-c", "sleep 60 & echo $!; wait"])
            return try await loop.runChild(
                options,
                output: { child, stdout in
                    if stdout.hasSuffix("\n") { try? child.kill(SIGTERM) }
                })
        }
        #expect(result.status.signal == SIGTERM)
        let grandchild = result.stdout.split(separator: "\n").first.flatMap { Int32($0) } ?? 0
        #expect(grandchild > 0)
        // The grandchild got SIGTERM too; wait (bounded) until it is gone.
        let gone = await waitUntil { kill(grandchild, 0) != 0 || isZombie(grandchild) }
        #expect(gone, "grandchild \(grandchild) survived the group kill")
    }

    @Test func missingProgramsFailToSpawnWithoutLeaking() async throws {
        let error: String = try await withLoop { loop in
            try await loop.submit {
                do {
                    _ = try ChildProcess(loop: loop, options: ProcessOptions(arguments: ["/nonexistent/program"])) {
                        _ in
                    }
                    return "spawned"
                } catch {
                    return "\(error)"
                }
            }
        }
        #expect(error.contains("ENOENT"))
    }
}

private func isZombie(_ pid: Int32) -> Bool {
    guard let file = fopen("/proc/\(pid)/stat", "r") else { return true }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 512)
    guard fgets(&buffer, 512, file) != nil else { return true }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: ")").last?.split(separator: " ").first == "Z"
}
