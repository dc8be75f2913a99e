import OrchionJobSpec
import OrchionProto
import SwiftProtobuf
import Testing

/// Sizes, CPU quantities and durations become exact integers in the request,
/// or are refused with what was expected.
@Suite struct UnitValueTests {
    private func spec(_ yaml: String) throws -> Orchion_V1_JobSpec {
        let requests = try JobSpecFile.parse("apiVersion: orchion/v1\nkind: Job\ncommand: a\n" + yaml, file: "u.yaml")
        return try #require(requests.first).spec
    }

    /// The hint of the one problem `yaml` is refused with.
    private func refusal(_ yaml: String) -> String? {
        do {
            _ = try spec(yaml)
            return nil
        } catch let error as JobSpecFileError {
            return error.problems.count == 1 ? error.problems[0].hint : error.description
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [
        ("1048576", UInt64(1_048_576)), ("4Gi", 4 << 30), ("4GiB", 4 << 30), ("512Mi", 512 << 20), ("1Ki", 1024),
        ("1k", 1000), ("1K", 1000), ("10GB", 10_000_000_000), ("1.5G", 1_500_000_000), ("1.5Gi", 3 << 29),
        ("100B", 100), ("0", 0), ("15Ei", 15 << 60), ("1E", 1_000_000_000_000_000_000),
    ])
    func sizesAreExactBytes(text: String, bytes: UInt64) throws {
        #expect(try spec("resources: {memory: \(text)}\n").resources.memoryBytes == bytes)
        #expect(try spec("gpu: {minMemory: \"\(text)\"}\n").gpu.minMemoryBytes == bytes)
    }

    @Test func sizesBeyondUInt64OrFinerThanAByteAreRefused() {
        #expect(refusal("resources: {memory: 16Ei}\n") == "expected at most 16 EiB, found the string `16Ei`")
        #expect(refusal("resources: {memory: 0.5B}\n") == "expected a whole number of bytes, found the string `0.5B`")
        #expect(
            refusal("resources: {memory: 12345678901234567890}\n")
                == "the integer `12345678901234567890` does not fit 64 bits")
        #expect(
            refusal("resources: {memory: 4 Gi}\n")
                == "expected a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes, found the string `4 Gi`")
    }

    @Test(arguments: [
        ("2", UInt64(2000)), ("0.5", 500), ("500m", 500), ("\"2\"", 2000), ("1.25", 1250), ("1500m", 1500),
        ("0.001", 1), ("0", 0),
    ])
    func cpuIsExactThousandths(text: String, millis: UInt64) throws {
        #expect(try spec("resources: {cpu: \(text)}\n").resources.cpuMillis == millis)
    }

    @Test func cpuFinerThanAThousandthIsRefused() {
        #expect(refusal("resources: {cpu: 0.0005}\n") == "expected whole thousandths, found the number `0.0005`")
        #expect(refusal("resources: {cpu: 0.5m}\n") == "expected whole thousandths, found the string `0.5m`")
        #expect(
            refusal("resources: {cpu: 2 cores}\n")
                == "expected a number such as `2` or `0.5`, or thousandths such as `500m`, found the string `2 cores`")
    }

    @Test(arguments: [
        ("90", Int64(90), Int32(0)), ("90s", 90, 0), ("10m", 600, 0), ("1h30m", 5400, 0), ("1.5h", 5400, 0),
        ("500ms", 0, 500_000_000), ("2d", 172_800, 0), ("1m0.25s", 60, 250_000_000), ("3us", 0, 3000),
        ("7ns", 0, 7), ("315576000000s", 315_576_000_000, 0),
    ])
    func durationsAreExactSecondsAndNanos(text: String, seconds: Int64, nanos: Int32) throws {
        let timeout = try spec("timeout: \(text)\n").timeout
        #expect(timeout.seconds == seconds && timeout.nanos == nanos)
        let backoff = try spec("retry: {backoff: \(text)}\n").retry.backoff
        #expect(backoff.seconds == seconds && backoff.nanos == nanos)
    }

    @Test func durationsBeyondTheServersRangeOrMalformedAreRefused() {
        #expect(
            refusal("timeout: 315576000001s\n")
                == "expected at most 315576000000 s (about 10,000 years), found the string `315576000001s`")
        #expect(
            refusal("timeout: 315576000001\n") == "expected at most 315576000000, found the integer `315576000001`")
        #expect(
            refusal("timeout: 10 minutes\n")
                == "expected a duration such as `90s`, `10m`, `1h30m` or a number of seconds, found the string "
                + "`10 minutes`")
        #expect(refusal("timeout: -5\n") == "expected at least 0, found the integer `-5`")
    }

    @Test func mapValuesAreTakenAsWrittenAndAliasesResolve() throws {
        let made = try spec("env: {N: 10, DEBUG: yes, RATE: 1.50, NAME: &n x}\nconstraints: {rack: 3, name: *n}\n")
        #expect(made.env == ["N": "10", "DEBUG": "yes", "RATE": "1.50", "NAME": "x"])
        #expect(made.constraints == ["rack": "3", "name": "x"])
    }
}

/// The same units for command-line flags.
@Suite struct JobSpecUnitsTests {
    @Test func flagValuesConvertAsInSpecs() throws {
        #expect(try JobSpecUnits.bytes("4Gi") == 4 << 30)
        #expect(try JobSpecUnits.bytes("1048576") == 1_048_576)
        #expect(try JobSpecUnits.cpuMillis("500m") == 500)
        #expect(try JobSpecUnits.cpuMillis("2") == 2000)
        #expect(try JobSpecUnits.duration("1h30m") == Google_Protobuf_Duration(seconds: 5400))
        #expect(try JobSpecUnits.duration("90") == Google_Protobuf_Duration(seconds: 90))
        #expect(try JobSpecUnits.duration("0.5s") == Google_Protobuf_Duration(seconds: 0, nanos: 500_000_000))
    }

    @Test func badFlagValuesSayWhatWasExpected() {
        #expect(
            throws: JobSpecUnitError(
                description: "expected a size such as `512Mi`, `4Gi`, `1.5G` or a number of bytes, found `4Gx`")
        ) {
            try JobSpecUnits.bytes("4Gx")
        }
        #expect(throws: JobSpecUnitError(description: "expected whole thousandths, found `0.0001`")) {
            try JobSpecUnits.cpuMillis("0.0001")
        }
        #expect(
            throws: JobSpecUnitError(
                description: "expected a duration such as `90s`, `10m`, `1h30m` or a number of seconds, found `-1s`")
        ) {
            try JobSpecUnits.duration("-1s")
        }
        #expect(
            throws: JobSpecUnitError(
                description: "expected at most 315576000000 s (about 10,000 years), found `999999999999999999`")
        ) {
            try JobSpecUnits.duration("999999999999999999")
        }
    }

    @Test func arrayCopiesAreNumberedFromZero() {
        let request = Orchion_V1_SubmitJobRequest.with {
            $0.spec.name = "n"
            $0.spec.command = "c"
        }
        let copies = JobSpecFile.arrayCopies(of: request, count: 3)
        #expect(copies.map(\.spec.name) == ["n[0]", "n[1]", "n[2]"])
        #expect(copies.map { $0.spec.env["ORCHION_ARRAY_INDEX"] } == ["0", "1", "2"])
        #expect(copies.allSatisfy { $0.spec.env["ORCHION_ARRAY_COUNT"] == "3" && $0.requestID.isEmpty })
    }
}
