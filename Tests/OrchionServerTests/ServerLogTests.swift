import Testing

@testable import OrchionServer

@Suite struct ServerLogTests {
    @Test func controlCharactersLineSeparatorsAndBidiOverridesAreEscaped() {
        #expect(ServerLog.oneLine("evil\r\nforged") == "evil\\r\\nforged")
        #expect(ServerLog.oneLine("a\rb\nc\td") == "a\\rb\\nc\\td")
        #expect(ServerLog.oneLine("esc\u{1B}[2J") == "esc\\u{1B}[2J")
        #expect(ServerLog.oneLine("x\u{2028}y\u{2029}z") == "x\\u{2028}y\\u{2029}z")
        #expect(ServerLog.oneLine("\u{202E}txt.exe") == "\\u{202E}txt.exe")
        #expect(ServerLog.oneLine("nœud-é 7 ready") == "nœud-é 7 ready")
    }
}
