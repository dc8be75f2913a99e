import FuzzHarness
import Glibc

/// The harness to run, named by `ORCHION_FUZZ_TARGET` (`.ci/fuzz` sets it;
/// libFuzzer's fork-mode children inherit it).
let selected: FuzzTarget? = getenv("ORCHION_FUZZ_TARGET").flatMap { FuzzTarget(rawValue: String(cString: $0)) }

/// libFuzzer's entry point for every target (see docs/fuzzing.md); built
/// only by `.ci/fuzz`, with `-sanitize=fuzzer,address`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver, called from `main`: SwiftPM gives an executable its
/// own `main`, so libFuzzer's is never linked in.
@_extern(c, "LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@main enum FuzzMain {
    static func main() {
        guard selected != nil else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            let message = "orchion-fuzz: set ORCHION_FUZZ_TARGET to one of: \(names)\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            exit(2)
        }
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
    }
}
