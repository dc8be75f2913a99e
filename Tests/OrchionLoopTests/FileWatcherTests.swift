import Glibc
import OrchionLoop
import Testing

@Suite struct FileWatcherTests {
    @Test func reportsNewFilesInADirectory() async throws {
        var template = Array("/tmp/orchion-watch-XXXXXX".utf8CString)
        let directory = String(cString: mkdtemp(&template)!)
        defer { rmdir(directory) }
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
        unlink(directory + "/dropped.so")
        #expect(name == "dropped.so")
    }
}
