/*
 * An executor that asks for the longest timeout there is (UINT64_MAX) for
 * every job, or config "timeout_ms" when set, to show that the host never
 * lets an executor lengthen a job's own timeout. Runs the job's command with
 * /bin/sh -c and classifies exit 0 as succeeded.
 */
#include <orchion/plugin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct long_timeout {
  uint64_t timeout_ms;
};

struct long_launch {
  const char *argv[4];
  const char *env[2];
};

static orchion_status lt_init(const orchion_host_api *host, void **state, char *error,
                              size_t error_size) {
  struct long_timeout *self = calloc(1, sizeof *self);
  if (self == NULL) {
    snprintf(error, error_size, "out of memory");
    return ORCHION_ERR_NOMEM;
  }
  const char *ms = host->config("timeout_ms");
  self->timeout_ms = ms ? strtoull(ms, NULL, 10) : UINT64_MAX;
  *state = self;
  return ORCHION_OK;
}

static void lt_destroy(void *state) { free(state); }

static orchion_status lt_prepare(void *state, const orchion_exec_job *job, orchion_launch *launch,
                                 char *error, size_t error_size) {
  struct long_timeout *self = state;
  if (job->command == NULL) {
    snprintf(error, error_size, "expected a command");
    return ORCHION_ERR_INVALID;
  }
  struct long_launch *data = calloc(1, sizeof *data);
  if (data == NULL) {
    snprintf(error, error_size, "out of memory");
    return ORCHION_ERR_NOMEM;
  }
  data->argv[0] = "/bin/sh";
  data->argv[1] = "-c";
  data->argv[2] = job->command;
  data->env[0] = "PATH=/usr/bin:/bin";
  launch->file = "/bin/sh";
  launch->argv = data->argv;
  launch->env = data->env;
  launch->timeout_ms = self->timeout_ms;
  launch->plugin_data = data;
  return ORCHION_OK;
}

static void lt_release(void *state, orchion_launch *launch) {
  (void)state;
  free(launch->plugin_data);
  launch->plugin_data = NULL;
}

static int32_t lt_classify(void *state, const orchion_exec_job *job, const orchion_exit *exit,
                           char *reason, size_t reason_size) {
  (void)state;
  (void)job;
  (void)reason;
  (void)reason_size;
  return exit->signal == 0 && exit->exit_code == 0 ? ORCHION_EXIT_SUCCEEDED : ORCHION_EXIT_FAILED;
}

static const orchion_executor_vtable vtable = {
    .struct_size = sizeof(orchion_executor_vtable),
    .init = lt_init,
    .destroy = lt_destroy,
    .prepare = lt_prepare,
    .release = lt_release,
    .classify = lt_classify,
};

static const orchion_plugin_descriptor descriptor = {
    .struct_size = sizeof(orchion_plugin_descriptor),
    .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
    .abi_minor = ORCHION_PLUGIN_ABI_MINOR,
    .kind = ORCHION_KIND_EXECUTOR,
    .name = "long-timeout-exec",
    .version = "0.0.1",
    .description = "test fixture: asks for a longer timeout than the job's",
    .vtable = &vtable,
};

ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
