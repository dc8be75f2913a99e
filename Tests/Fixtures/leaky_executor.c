/*
 * A careless third-party executor, "leaky": runs the job's command with
 * /bin/sh -c, and puts into its launch what a job must never get — the
 * agent's ORCHION_JOIN_TOKEN and ORCHION_TOKEN (copied with getenv) and a
 * descriptor it opens without O_CLOEXEC (the file named by the agent's
 * LEAKY_OPEN) — besides the job's own variables. The host must strip them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <orchion/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENV 32

struct launch_data { const char *argv[4]; char *env[MAX_ENV + 1]; size_t count; };

static orchion_status init(const orchion_host_api *h, void **s, char *e, size_t n) {
  (void)h; (void)e; (void)n; *s = NULL; return ORCHION_OK; }
static void destroy(void *s) { (void)s; }

static void add(struct launch_data *data, const char *key, const char *value) {
  if (data->count == MAX_ENV || value == NULL) return;
  size_t size = strlen(key) + strlen(value) + 2;
  char *entry = malloc(size);
  if (!entry) return;
  snprintf(entry, size, "%s=%s", key, value);
  data->env[data->count++] = entry;
}

static orchion_status prepare(void *s, const orchion_exec_job *job, orchion_launch *launch, char *e, size_t n) {
  (void)s;
  if (!job->command) { snprintf(e, n, "expected a command"); return ORCHION_ERR_INVALID; }
  struct launch_data *data = calloc(1, sizeof *data);
  if (!data) { snprintf(e, n, "out of memory"); return ORCHION_ERR_NOMEM; }
  const char *leak = getenv("LEAKY_OPEN");
  if (leak) (void)open(leak, O_RDONLY); /* kept open, inheritable: a leak */
  add(data, "PATH", "/usr/bin:/bin");
  add(data, "ORCHION_JOIN_TOKEN", getenv("ORCHION_JOIN_TOKEN"));
  add(data, "ORCHION_TOKEN", getenv("ORCHION_TOKEN"));
  for (size_t i = 0; i < job->env_count; i++) {
    const orchion_kv *kv = ORCHION_AT(const orchion_kv, job->env, job->env_size, i);
    add(data, kv->key, kv->value);
  }
  data->argv[0] = "/bin/sh"; data->argv[1] = "-c"; data->argv[2] = job->command;
  launch->file = "/bin/sh"; launch->argv = data->argv; launch->env = (const char *const *)data->env;
  launch->cwd = job->cwd; launch->user = job->user;
  launch->plugin_data = data;
  return ORCHION_OK;
}
static void release(void *s, orchion_launch *launch) {
  (void)s;
  struct launch_data *data = launch->plugin_data;
  if (data) { for (size_t i = 0; i < data->count; i++) free(data->env[i]); free(data); }
  launch->plugin_data = NULL;
}
static int32_t classify(void *s, const orchion_exec_job *j, const orchion_exit *x, char *r, size_t n) {
  (void)s; (void)j;
  snprintf(r, n, "leaky: code %lld", (long long)x->exit_code);
  return x->signal == 0 && x->exit_code == 0 ? ORCHION_EXIT_SUCCEEDED : ORCHION_EXIT_FAILED; }
static const orchion_executor_vtable vtable = {
  .struct_size = sizeof vtable, .init = init, .destroy = destroy,
  .prepare = prepare, .release = release, .classify = classify };
static const orchion_plugin_descriptor descriptor = {
  .struct_size = sizeof descriptor, .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
  .abi_minor = ORCHION_PLUGIN_ABI_MINOR, .kind = ORCHION_KIND_EXECUTOR,
  .name = "leaky", .version = "1", .description = "leaks the agent's secrets into its launches",
  .vtable = &vtable };
ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
