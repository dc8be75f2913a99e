import Foundation
import OrchionWire
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Running out of file descriptors costs the server neither a crash nor a
/// busy loop. The descriptor table is filled in a child process (this test
/// binary, running only `childServesThroughDescriptorExhaustion`), so no
/// other test is starved.
@Suite(.serialized) struct DescriptorExhaustionTests {
    private static let childVariable = "ORCHION_TEST_DESCRIPTOR_EXHAUSTION_CHILD"

    @Test func aServerOutOfDescriptorsClosesWaitingConnectionsAndRecovers() throws {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var environment = ProcessInfo.processInfo.environment
        environment[Self.childVariable] = "1"
        let child = try runCommand(
            [
                executable, "--testing-library", "swift-testing", "--filter",
                "DescriptorExhaustionTests/childServesThroughDescriptorExhaustion",
            ], environment: environment, timeout: 60)
        let output = child.stdout + child.stderr
        #expect(child.status == 0, "\(output)")
        #expect(output.contains("childServesThroughDescriptorExhaustion() passed"), "the child ran: \(output)")
        #expect(!output.contains("skipped"), "\(output)")
    }

    /// Runs only in the child: fills the descriptor table, connects while
    /// the server cannot accept, then frees the table and is served again.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[childVariable] == "1"))
    func childServesThroughDescriptorExhaustion() async throws {
        let server = try await HandlerServer { _, responder in responder.send(.json(200, Array("{}".utf8))) }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        limit.rlim_cur = rlim_t(open + 64)
        #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        var fillers: [Int32] = []
        while fillers.count < 256 {
            let fd = Glibc.open("/dev/null", O_RDONLY)
            if fd < 0 { break }
            fillers.append(fd)
        }
        #expect(errno == EMFILE && fillers.count < 256, "the table is full")
        // One descriptor free: the client takes it, so the server has none.
        if let last = fillers.popLast() { Glibc.close(last) }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpuBefore =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        let started = Date()
        var closedByServer = 0
        for _ in 0..<10 {
            guard let client = HTTP1LivenessTests.connectClient(port: server.port) else { continue }
            let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            _ = send(client, request, request.count, Int32(MSG_NOSIGNAL))
            var reply = [UInt8](repeating: 0, count: 1024)
            // The server accepts and closes at once (EOF or reset), within the 5 s receive timeout.
            let received = recv(client, &reply, reply.count, 0)
            if received == 0 || received < 0 && errno == ECONNRESET { closedByServer += 1 }
            Glibc.close(client)
        }
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpuAfter =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        let elapsed = Date().timeIntervalSince(started)
        print(
            "descriptor exhaustion: \(closedByServer)/10 closed by the server in \(elapsed) s, CPU \(cpuAfter - cpuBefore) s"
        )
        #expect(closedByServer == 10, "each connection waiting while out of descriptors was closed, not left hanging")
        #expect(try await server.probe(\.openConnections) == 0, "none of them was served")
        #expect(cpuAfter - cpuBefore < max(1, elapsed), "no busy loop while out of descriptors")
        for fd in fillers { Glibc.close(fd) }
        let client = try #require(HTTP1LivenessTests.connectClient(port: server.port))
        let request = Array("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        _ = send(client, request, request.count, Int32(MSG_NOSIGNAL))
        var reply = [UInt8](repeating: 0, count: 1024)
        let count = recv(client, &reply, reply.count, 0)
        Glibc.close(client)
        #expect(String(decoding: reply.prefix(max(count, 0)), as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
        try await server.stop()
    }
}
