/*
 * A third-party executor: runs "echo third-party:<job id>" whatever the job
 * says, so a test can tell that the job ran under it and not under exec.
 */
#include <orchion/plugin.h>
#include <stdio.h>
#include <stdlib.h>

struct launch_data { char line[256]; const char *argv[4]; const char *env[2]; };

static orchion_status init(const orchion_host_api *h, void **s, char *e, size_t n) {
  (void)h; (void)e; (void)n; *s = NULL; return ORCHION_OK; }
static void destroy(void *s) { (void)s; }
static orchion_status prepare(void *s, const orchion_exec_job *job, orchion_launch *launch, char *e, size_t n) {
  (void)s;
  struct launch_data *data = calloc(1, sizeof *data);
  if (!data) { snprintf(e, n, "out of memory"); return ORCHION_ERR_NOMEM; }
  snprintf(data->line, sizeof data->line, "echo third-party:%s", job->id);
  data->argv[0] = "/bin/sh"; data->argv[1] = "-c"; data->argv[2] = data->line;
  data->env[0] = "PATH=/usr/bin:/bin";
  launch->file = "/bin/sh"; launch->argv = data->argv; launch->env = data->env;
  launch->plugin_data = data;
  return ORCHION_OK;
}
static void release(void *s, orchion_launch *launch) { (void)s; free(launch->plugin_data); launch->plugin_data = NULL; }
static int32_t classify(void *s, const orchion_exec_job *j, const orchion_exit *x, char *r, size_t n) {
  (void)s; (void)j;
  snprintf(r, n, "echo-id: code %lld", (long long)x->exit_code);
  return x->signal == 0 && x->exit_code == 0 ? ORCHION_EXIT_SUCCEEDED : ORCHION_EXIT_FAILED; }
static const orchion_executor_vtable vtable = {
  .struct_size = sizeof vtable, .init = init, .destroy = destroy,
  .prepare = prepare, .release = release, .classify = classify };
static const orchion_plugin_descriptor descriptor = {
  .struct_size = sizeof descriptor, .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
  .abi_minor = ORCHION_PLUGIN_ABI_MINOR, .kind = ORCHION_KIND_EXECUTOR,
  .name = "echo-id", .version = "1", .description = "echoes its job id", .vtable = &vtable };
ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
