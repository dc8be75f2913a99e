import FuzzHarness

/// libFuzzer's entry point for the `http1` target (see docs/fuzzing.md);
/// built only by `.ci/fuzz`, with `-sanitize=fuzzer,address`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.http1.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
