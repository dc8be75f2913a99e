import Testing
import Yams

@testable import OrchionJobSpec

/// Scalars are typed as Yams's default resolver types them, although files
/// are composed with the basic one (for speed).
@Suite struct YAMLInstanceTests {
    @Test(arguments: [
        "10", "-5", "+1", "0", "0x1F", "0o17", "017", "0b101", "1_000", "1:30", "1.5", "1.", ".5", "-.5", "1e3",
        "1.0e+3", ".inf", "-.Inf", ".nan", ".NaN", "yes", "No", "ON", "off", "true", "False", "null", "NULL", "~",
        "<<", "=", "2026-11-29", "2026-11-29T10:00:00Z", "500m", "1Gi", "1.5G", "90s", "1h30m", "orchion/v1",
        "Job", "nvidia", "aarch64", "true-1", "nope", "onwards", "0xZZ", "12:3a", "1 2", "a b",
        "99999999999999999999999",
    ])
    func plainScalarsAreTypedAsByTheDefaultResolver(text: String) throws {
        let basic = try #require(try Yams.compose(yaml: "v: \(text)\n", .basic)?["v"])
        let resolved = try #require(try Yams.compose(yaml: "v: \(text)\n")?["v"])
        let expected: JobSchema.JSONType =
            switch resolved.tag.description {
            case Tag.Name.int.rawValue: .integer
            case Tag.Name.float.rawValue: .number
            case Tag.Name.bool.rawValue: .boolean
            case Tag.Name.null.rawValue: .null
            default: .string
            }
        #expect(YAMLInstance(basic).type == expected)
    }

    @Test func quotedAndTaggedScalarsAreStringsOrTheirTag() throws {
        let node = try #require(
            try Yams.compose(yaml: "a: \"10\"\nb: '~'\nc: !!str 10\nd: |\n  10\ne: !!int 10\n", .basic))
        #expect(
            ["a", "b", "c", "d"].map { node[$0].map { YAMLInstance($0).type } } == Array(repeating: .string, count: 4))
        #expect(node["e"].map { YAMLInstance($0).type } == .integer)
    }
}
