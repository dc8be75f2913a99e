import Glibc
import OrchionLoop
import Testing

@Suite struct FileWatcherTests {
    @Test func reportsNewFilesInADirectory() async throws {
        let temporary = try TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }  // removed only when the test ends
        let directory = temporary.path
        let name: String? = try await withLoop { loop in
            try await loop.run { finish in
                let watcher = try FileWatcher(loop: loop)
                try watcher.start(path: directory) { name in
                    guard name == "dropped.so" else { return }
                    watcher.close()
                    finish(name)
                }
                let file = fopen(directory + "/dropped.so", "w")
                fclose(file)
            }
        }
        #expect(name == "dropped.so")
    }
}
