import Foundation
import OrchionAgent
import OrchionCore
import OrchionPluginHost
import TestSupport
import Testing

/// The plugin's C source.
private let thirdPartySource = #"""
    #include <orchion/plugin.h>
    #include <stdio.h>
    #include <stdlib.h>

    /* Runs "echo <prefix><job id>" and reports what it was told at the end. */
    struct launch_data { char line[256]; const char *argv[4]; const char *env[2]; };

    static orchion_status tp_init(const orchion_host_api *host, void **state, char *error, size_t size) {
      (void)error; (void)size;
      const char *prefix = host->config("prefix");
      *state = (void *)(prefix ? prefix : "third-party:");
      return ORCHION_OK;
    }
    static void tp_destroy(void *state) { (void)state; }
    static orchion_status tp_prepare(void *state, const orchion_exec_job *job, orchion_launch *launch,
                                     char *error, size_t size) {
      struct launch_data *data = calloc(1, sizeof *data);
      if (!data) { snprintf(error, size, "out of memory"); return ORCHION_ERR_NOMEM; }
      snprintf(data->line, sizeof data->line, "echo %s%s", (const char *)state, job->id);
      data->argv[0] = "/bin/sh"; data->argv[1] = "-c"; data->argv[2] = data->line;
      data->env[0] = "PATH=/usr/bin:/bin";
      launch->file = "/bin/sh"; launch->argv = data->argv; launch->env = data->env;
      launch->plugin_data = data;
      return ORCHION_OK;
    }
    static void tp_release(void *state, orchion_launch *launch) {
      (void)state; free(launch->plugin_data); launch->plugin_data = NULL;
    }
    static int32_t tp_classify(void *state, const orchion_exec_job *job, const orchion_exit *exit,
                               char *reason, size_t size) {
      (void)state; (void)job;
      snprintf(reason, size, "third-party: code %lld signal %d stopped %d", (long long)exit->exit_code,
               exit->signal, exit->stopped);
      return exit->signal == 0 && exit->exit_code == 0 ? ORCHION_EXIT_SUCCEEDED : ORCHION_EXIT_FAILED;
    }
    static const orchion_executor_vtable vtable = {
      sizeof(orchion_executor_vtable), 0, tp_init, tp_destroy, tp_prepare, tp_release, tp_classify,
    };
    static const orchion_plugin_descriptor descriptor = {
      .struct_size = sizeof(orchion_plugin_descriptor), .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
      .abi_minor = ORCHION_PLUGIN_ABI_MINOR, .kind = ORCHION_KIND_EXECUTOR, .reserved = 0, .name = "third-echo",
      .version = "0.1.0", .description = "echoes its job id", .vtable = &vtable,
    };
    const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
    """#

/// A third-party executor, written in C and built here with `cc`, dropped
/// into a plugin directory and named by a job.
@Suite struct ThirdPartyExecutorTests {

    @Test func anExecutorDroppedIntoThePluginDirectoryRunsTheJobsThatNameIt() async throws {
        let plugins = try Paths.temporaryDirectory("orchion-plugins")
        defer { try? FileManager.default.removeItem(at: plugins) }
        let sourceFile = plugins.appendingPathComponent("third_echo.c.txt")
        try thirdPartySource.write(to: sourceFile, atomically: true, encoding: .utf8)
        let include = Paths.root.appendingPathComponent("sdk/c/include").path
        let built = try runCommand(
            [
                "cc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-shared", "-fPIC", "-x", "c", "-I", include, "-o",
                plugins.appendingPathComponent("orchion-third-echo.so").path, sourceFile.path,
            ], timeout: 60)
        #expect(built.status == 0, "\(built.stderr)")

        let registry = PluginRegistry()
        registry.scan([PluginDirectory(path: plugins.path, source: .flag)])
        let library = try #require(registry.library(named: "third-echo"), "\(registry.entries)")
        let harness = try await RunnerHarness(extra: [library])
        defer { try? harness.shutdown() }
        #expect(harness.catalog.names == ["exec", "third-echo"])

        let run = try await harness.run(
            JobAssignment(spec: JobSpec(id: "tp-1", command: "ignored", executor: "third-echo")))
        #expect(run.text(.stdout) == "third-party:tp-1\n")
        #expect(run.report.executor == "third-echo")
        #expect(run.report.outcome.verdict == .succeeded)
        #expect(run.report.outcome.reason == "third-party: code 0 signal 0 stopped 0")
        // The same job without an executor name runs under exec.
        let plain = try await harness.run(JobAssignment(spec: JobSpec(id: "tp-2", command: "echo plain")))
        #expect(plain.text(.stdout) == "plain\n" && plain.report.executor == "exec")
    }
}
