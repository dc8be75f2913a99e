import OrchionServer
import Testing

@Suite struct StateDirectoryTests {
    @Test func configuredThenSystemdThenXDGThenHome() {
        let all = ["STATE_DIRECTORY": "/var/lib/orchion:/var/lib/other", "XDG_DATA_HOME": "/x", "HOME": "/h"]
        #expect(StateDirectory.resolve(configured: "/srv/o", environment: all) == "/srv/o")
        #expect(StateDirectory.resolve(configured: nil, environment: all) == "/var/lib/orchion")
        #expect(
            StateDirectory.resolve(configured: "", environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]) == "/x/orchion")
        #expect(
            StateDirectory.resolve(configured: nil, environment: ["XDG_DATA_HOME": "rel", "HOME": "/h"])
                == "/h/.local/share/orchion")
        #expect(StateDirectory.resolve(configured: nil, environment: [:]) == nil)
    }
}
