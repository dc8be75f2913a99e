/*
 * An executor whose classify takes as long as config "classify_ms" says, so a
 * test can check that a slow executor never stalls the host's loop. It logs
 * "init", "prepare" and "classify" from inside each call, runs the job's
 * command with /bin/sh -c, and classifies exit 0 as succeeded.
 */
#define _POSIX_C_SOURCE 200809L
#include <orchion/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct slow {
  const orchion_host_api *host;
  long classify_ms;
};

struct slow_launch {
  const char *argv[4];
  const char *env[2];
};

static orchion_status slow_init(const orchion_host_api *host, void **state, char *error,
                                size_t error_size) {
  struct slow *self = calloc(1, sizeof *self);
  if (self == NULL) {
    snprintf(error, error_size, "out of memory");
    return ORCHION_ERR_NOMEM;
  }
  self->host = host;
  const char *ms = host->config("classify_ms");
  self->classify_ms = ms ? strtol(ms, NULL, 10) : 0;
  host->log(ORCHION_LOG_INFO, "init");
  *state = self;
  return ORCHION_OK;
}

static void slow_destroy(void *state) { free(state); }

static orchion_status slow_prepare(void *state, const orchion_exec_job *job,
                                   orchion_launch *launch, char *error, size_t error_size) {
  struct slow *self = state;
  self->host->log(ORCHION_LOG_INFO, "prepare");
  if (job->command == NULL) {
    snprintf(error, error_size, "expected a command");
    return ORCHION_ERR_INVALID;
  }
  struct slow_launch *data = calloc(1, sizeof *data);
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
  launch->plugin_data = data;
  return ORCHION_OK;
}

static void slow_release(void *state, orchion_launch *launch) {
  (void)state;
  free(launch->plugin_data);
  launch->plugin_data = NULL;
}

static int32_t slow_classify(void *state, const orchion_exec_job *job, const orchion_exit *exit,
                             char *reason, size_t reason_size) {
  (void)job;
  struct slow *self = state;
  struct timespec pause = {self->classify_ms / 1000, (self->classify_ms % 1000) * 1000000L};
  while (nanosleep(&pause, &pause) != 0) {}
  self->host->log(ORCHION_LOG_INFO, "classify");
  snprintf(reason, reason_size, "slept %ld ms", self->classify_ms);
  return exit->signal == 0 && exit->exit_code == 0 ? ORCHION_EXIT_SUCCEEDED : ORCHION_EXIT_FAILED;
}

static const orchion_executor_vtable vtable = {
    .struct_size = sizeof(orchion_executor_vtable),
    .init = slow_init,
    .destroy = slow_destroy,
    .prepare = slow_prepare,
    .release = slow_release,
    .classify = slow_classify,
};

static const orchion_plugin_descriptor descriptor = {
    .struct_size = sizeof(orchion_plugin_descriptor),
    .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
    .abi_minor = ORCHION_PLUGIN_ABI_MINOR,
    .kind = ORCHION_KIND_EXECUTOR,
    .name = "slow-exec",
    .version = "0.0.1",
    .description = "test fixture: a slow classify",
    .vtable = &vtable,
};

ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
