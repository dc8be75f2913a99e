import OrchionCore
import Testing

@Suite struct JobSpecTests {
    @Test func acceptsACommandOrAnArgv() throws {
        try JobSpec(id: "a", command: "echo hi").validate()
        try JobSpec(id: "b", argv: ["/bin/echo", "hi"], env: ["GREETING": "hi"]).validate()
    }

    @Test func refusesTyposWithAClearMessage() {
        let bad: [(JobSpec, String)] = [
            (JobSpec(id: "a"), "expected a command or an argv, found neither"),
            (JobSpec(id: "a", command: "x", argv: ["y"]), "expected either a command or an argv, found both"),
            (JobSpec(id: "has space", command: "x"), "invalid job spec field 'id'"),
            (
                JobSpec(id: "a", command: "x", env: ["A=B": "c"]),
                "expected variable names without '=' or NUL, found A=B"
            ),
            (JobSpec(id: "a", argv: [""]), "expected a program name in argv[0]"),
            (
                JobSpec(id: "a", name: String(repeating: "n", count: 254), command: "x"),
                "invalid job spec field 'name': expected at most 253 bytes on one line, found 254 bytes"
            ),
            (JobSpec(id: "a", name: "two\nlines", command: "x"), "found 9 bytes with a line break"),
            (JobSpec(id: "a", name: "nul\0", command: "x"), "expected strings without NUL bytes, found a NUL byte"),
            (JobSpec(id: "a", command: "x", executor: "e\0"), "expected strings without NUL bytes"),
            // The kernel's limit for one exec string: refused at submit, naming the field, not E2BIG on the node.
            (
                JobSpec(id: "a", command: "x", env: ["BIG": String(repeating: "v", count: 128 * 1024)]),
                "invalid job spec field 'env.BIG': expected under 131072 bytes"
            ),
            (
                JobSpec(id: "a", argv: ["echo", String(repeating: "a", count: 128 * 1024)]),
                "invalid job spec field 'argv[1]'"
            ),
            (
                JobSpec(id: "a", command: "x", retry: RetryPolicy(maxAttempts: 1_001)),
                "invalid job spec field 'retry.maxAttempts': expected at most 1000, found 1001"
            ),
            (
                JobSpec(id: "a", command: "x", requirements: JobRequirements(constraints: ["": "v"])),
                "invalid job spec field 'constraints': expected non-empty label keys, found an empty key"
            ),
            (
                JobSpec(id: "a", command: "x", requirements: JobRequirements(gpu: GPURequest(count: 1, model: "h\0"))),
                "invalid job spec field 'requirements': expected strings without NUL bytes"
            ),
        ]
        for (spec, message) in bad {
            do {
                try spec.validate()
                Issue.record("accepted \(spec)")
            } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }

    @Test func carriesTheSchemaFieldsNameRetryAndTimeout() throws {
        let spec = JobSpec(
            id: "train-1", name: "nightly training", command: "make train", timeoutMillis: 60_000,
            retry: RetryPolicy(maxAttempts: 3, backoffMillis: 5_000))
        try spec.validate()
        #expect(spec.name == "nightly training" && spec.timeoutMillis == 60_000)
        #expect(spec.retry == RetryPolicy(maxAttempts: 3, backoffMillis: 5_000))
        #expect(JobSpec(id: "b", command: "x").retry == .never)
    }

    @Test func emptyFiltersMeanAnyAsInTheSchema() {
        var requirements = JobRequirements(gpu: GPURequest(count: 1, vendor: "", model: ""), arch: "")
        #expect(requirements.arch == nil && requirements.gpu.vendor == nil && requirements.gpu.model == nil)
        requirements.arch = ""
        #expect(requirements.arch == nil)
        var request = GPURequest(count: 1, vendor: "NVIDIA")
        #expect(request.vendor == "nvidia")
        request.vendor = "AMD"
        request.model = ""
        #expect(request.vendor == "amd" && request.model == nil)
        #expect(requirements.resources.gpus == 1, "resources.gpus follows gpu.count")
    }
}

@Suite struct OutputStreamTests {
    @Test func mirrorsTheSchemaLogStreamInOrder() {
        // orchion.v1.LogStream numbers these 1 and 2 (0 is UNSPECIFIED).
        #expect(OutputStream.allCases.map(\.rawValue) == ["stdout", "stderr"])
    }
}
