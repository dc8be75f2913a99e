/*
 * An executor that answers RETRYABLE to every exit and reports the `stopped`
 * field it was given, so a test can check that the host overrides it for a
 * job the host stopped.
 */
#include <orchion/plugin.h>
#include <stdio.h>
static orchion_status init(const orchion_host_api *h, void **s, char *e, size_t n) {
  (void)h; (void)s; (void)e; (void)n; return ORCHION_OK; }
static void destroy(void *s) { (void)s; }
static orchion_status prepare(void *s, const orchion_exec_job *j, orchion_launch *l, char *e, size_t n) {
  (void)s; (void)j; (void)l; snprintf(e, n, "unused"); return ORCHION_ERR_UNSUPPORTED; }
static void release(void *s, orchion_launch *l) { (void)s; (void)l; }
static int32_t classify(void *s, const orchion_exec_job *j, const orchion_exit *x, char *r, size_t n) {
  (void)s; (void)j;
  if (x->struct_size < sizeof(orchion_exit)) { snprintf(r, n, "short exit"); return ORCHION_EXIT_FAILED; }
  snprintf(r, n, "stopped=%d", x->stopped); return ORCHION_EXIT_RETRYABLE; }
static const orchion_executor_vtable vtable = {
  .struct_size = sizeof vtable, .init = init, .destroy = destroy,
  .prepare = prepare, .release = release, .classify = classify };
static const orchion_plugin_descriptor descriptor = {
  .struct_size = sizeof descriptor, .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
  .abi_minor = ORCHION_PLUGIN_ABI_MINOR, .kind = ORCHION_KIND_EXECUTOR,
  .name = "always-retry", .version = "1", .vtable = &vtable };
ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
