import OrchionCore
import OrchionLoop
import OrchionPluginHost

extension JobRunner {
    /// The job runner `orchion plugin check` gives `PluginCheck.run`: each
    /// check job runs as attempt 1 on `runtime`, with its executor called
    /// inline, its output collected whole.
    public static func checkRunner(runtime: ExecutionRuntime) -> CheckJobRunner {
        { loop, executor, spec, finish in
            var output: [UInt8] = []
            start(
                loop: loop, runtime: runtime, executor: executor, assignment: JobAssignment(spec: spec),
                onOutput: { chunk in
                    output += chunk.bytes
                    return true
                },
                started: { started in
                    if case .failure(let error) = started { finish(.failure(error)) }
                },
                completion: { report in finish(.success((report.outcome, String(decoding: output, as: UTF8.self)))) })
        }
    }
}
