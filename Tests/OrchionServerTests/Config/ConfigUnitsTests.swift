import OrchionLoop
import OrchionServer
import Testing

@Suite struct ConfigUnitsTests {
    @Test func durationsInEveryUnitAndCombined() throws {
        let good: [(String, Duration)] = [
            ("500ms", .milliseconds(500)), ("2s", .seconds(2)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
            ("7d", .seconds(7 * 86_400)), ("1h30m", .seconds(5400)), ("1.5s", .milliseconds(1500)),
            (" 2s ", .seconds(2)), ("0.25ms", .microseconds(250)),
        ]
        for (text, expected) in good {
            #expect(try ConfigUnits.duration(text).get() == expected, "\(text)")
        }
    }

    @Test func badDurationsSayWhatWasExpectedAndFound() {
        for text in ["5", "2 seconds", "s", "", "1.5.2s", "-1s", "1x", "9999999999999d", "0.0000000001s", "1.s", ".5s"]
        {
            guard case .failure(let error) = ConfigUnits.duration(text) else {
                Issue.record("accepted '\(text)'")
                continue
            }
            #expect(error.description == "expected a duration such as 500ms, 2s, 5m, 1h30m or 7d, found '\(text)'")
        }
    }

    @Test func durationsAreWrittenInTheirLargestExactUnits() throws {
        #expect(ConfigUnits.format(.seconds(7 * 86_400)) == "7d")
        #expect(ConfigUnits.format(.milliseconds(90_500)) == "1m30s500ms")
        #expect(ConfigUnits.format(.seconds(2)) == "2s")
        #expect(ConfigUnits.format(.milliseconds(250)) == "250ms")
        for duration in [Duration.seconds(86_461), .milliseconds(3_600_001), .seconds(30)] {
            #expect(try ConfigUnits.duration(ConfigUnits.format(duration)).get() == duration)
        }
    }

    @Test func sizesInBinaryAndDecimalUnitsAndPlainBytes() throws {
        let good: [(String, Int)] = [
            ("64MiB", 64 << 20), ("4GiB", 4 << 30), ("1048576", 1 << 20), ("100_000", 100_000), ("1kB", 1000),
            ("64 MiB", 64 << 20), ("16KiB", 16 << 10), ("2TB", 2_000_000_000_000), ("512B", 512),
        ]
        for (text, expected) in good {
            #expect(try ConfigUnits.size(text).get() == expected, "\(text)")
        }
        for text in ["64mib", "-1", "1.5GiB", "GiB", "99999999999TiB", "", "1__0", "_1", "12 34"] {
            guard case .failure(let error) = ConfigUnits.size(text) else {
                Issue.record("accepted '\(text)'")
                continue
            }
            #expect(error.description == "expected a size such as 65536, 64KiB, 64MiB or 4GiB, found '\(text)'")
        }
        #expect(ConfigUnits.format(bytes: 64 << 20) == "64MiB")
        #expect(ConfigUnits.format(bytes: 4 << 30) == "4GiB")
        #expect(ConfigUnits.format(bytes: 1000) == "1000")
    }

    @Test func countsNumbersAndBooleans() throws {
        #expect(try ConfigUnits.count("3").get() == 3)
        #expect(try ConfigUnits.count("100_000").get() == 100_000)
        for text in ["3.0", "-1", "three", "_1", ""] {
            #expect(
                throws: ConfigValueError(expected: "a whole number such as 3 or 100000", found: text),
                performing: { try ConfigUnits.count(text).get() })
        }
        #expect(try ConfigUnits.number("0.25").get() == 0.25)
        #expect(try ConfigUnits.number("500").get() == 500)
        for text in ["1e400", "abc", "0x10", "nan"] {
            #expect(
                throws: ConfigValueError(expected: "a number such as 0.25 or 500", found: text),
                performing: { try ConfigUnits.number(text).get() })
        }
        #expect(try ConfigUnits.boolean("TRUE").get() == true)
        #expect(try ConfigUnits.boolean("false").get() == false)
        #expect(
            throws: ConfigValueError(expected: "true or false", found: "yes"),
            performing: { try ConfigUnits.boolean("yes").get() })
    }

    @Test func addressesAreNumericHostsWithAPort() throws {
        let good: [(String, SocketAddress)] = [
            ("127.0.0.1:7420", SocketAddress(host: "127.0.0.1", port: 7420)),
            ("[::1]:7420", SocketAddress(host: "::1", port: 7420)),
            ("0.0.0.0:80", SocketAddress(host: "0.0.0.0", port: 80)),
            ("localhost:1", SocketAddress(host: "127.0.0.1", port: 1)),
            ("127.0.0.1:0", SocketAddress(host: "127.0.0.1", port: 0)),
        ]
        for (text, expected) in good {
            #expect(try ConfigUnits.address(text).get() == expected, "\(text)")
        }
        for text in ["example.com:80", "127.0.0.1", "127.0.0.1:70000", "::1:80", "[::1]", "1.2.3.4:-1", "[1.2.3.4]:80"]
        {
            guard case .failure(let error) = ConfigUnits.address(text) else {
                Issue.record("accepted '\(text)'")
                continue
            }
            #expect(
                error.description
                    == "expected an address such as 127.0.0.1:7420, [::1]:7420 or 0.0.0.0:7420, found '\(text)'")
        }
    }

    @Test func loopbackAddresses() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            #expect(ConfigUnits.isLoopback(host), "\(host)")
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "fe80::1"] {
            #expect(!ConfigUnits.isLoopback(host), "\(host)")
        }
    }
}
