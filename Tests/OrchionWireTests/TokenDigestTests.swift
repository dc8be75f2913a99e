import OrchionWire
import Testing

@Suite struct TokenDigestTests {
    @Test func matchesTheFIPSVectors() {
        #expect(TokenDigest.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TokenDigest.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(TokenDigest.sha256("abc".utf8).count == 32)
    }
}
