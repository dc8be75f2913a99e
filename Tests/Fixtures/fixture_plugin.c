/*
 * A configurable test plugin, compiled by the tests with -D flags into many
 * real shared objects, each broken (or not) in one specific way.
 *
 *   FIXTURE_NAME         descriptor name (default "fixture")
 *   FIXTURE_MAJOR/MINOR  ABI version claimed
 *   FIXTURE_SIZE         descriptor struct_size claimed
 *   FIXTURE_KIND         descriptor kind
 *   FIXTURE_NO_ENTRY     export no entry symbol
 *   FIXTURE_INIT_FAIL    init fails with a message
 *   FIXTURE_MODE         place behaviour: 0 first fit, 1 index out of range,
 *                        2 always node 0 (ignores resources), 3 status error,
 *                        4 unterminated reason, 5 first fit after sleeping
 *                        FIXTURE_SLEEP_MS, 6 status error when the first
 *                        job's id starts with "fail" (first fit otherwise),
 *                        7 first fit after a thread of the plugin's own
 *                        called log, metric, config and clock_ns, 8 every
 *                        job on node 0 naming the GPUs in config "gpus"
 *                        (comma-separated; gpu_count = how many were listed),
 *                        9 never returns (waits on a condition nobody signals),
 *                        10 first fit, then writes one placement past the
 *                        end of `out`, 11 fills the error buffer one byte
 *                        past its size and fails
 *
 * fixture_call_host_after_destroy() calls the host table of the last
 * destroyed instance, as a buggy plugin would.
 *
 * It logs "init tag=<config tag>" from init and "place tag=<tag>" from place,
 * and records a metric "calls", so tests can check attribution.
 */
#define _POSIX_C_SOURCE 200809L
#include <orchion/plugin.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef FIXTURE_NAME
#define FIXTURE_NAME "fixture"
#endif
#ifndef FIXTURE_MAJOR
#define FIXTURE_MAJOR ORCHION_PLUGIN_ABI_MAJOR
#endif
#ifndef FIXTURE_MINOR
#define FIXTURE_MINOR ORCHION_PLUGIN_ABI_MINOR
#endif
#ifndef FIXTURE_SIZE
#define FIXTURE_SIZE sizeof(orchion_plugin_descriptor)
#endif
#ifndef FIXTURE_KIND
#define FIXTURE_KIND ORCHION_KIND_SCHEDULER
#endif
#ifndef FIXTURE_MODE
#define FIXTURE_MODE 0
#endif
#ifndef FIXTURE_SLEEP_MS
#define FIXTURE_SLEEP_MS 1000
#endif

struct fixture {
  const orchion_host_api *host;
  const char *tag;
  int calls;
};

static orchion_status fixture_init(const orchion_host_api *host, void **state,
                                   char *error, size_t error_size) {
#ifdef FIXTURE_INIT_FAIL
  (void)host;
  (void)state;
  snprintf(error, error_size, "cannot reach the license server at 127.0.0.1:1");
  return ORCHION_ERR_INTERNAL;
#else
  (void)error;
  (void)error_size;
  struct fixture *self = calloc(1, sizeof *self);
  self->host = host;
  self->tag = host->config("tag");
  char line[128];
  snprintf(line, sizeof line, "init tag=%s", self->tag ? self->tag : "none");
  host->log(ORCHION_LOG_INFO, line);
  *state = self;
  return ORCHION_OK;
#endif
}

static const orchion_host_api *destroyed_host;

static void fixture_destroy(void *state) {
  struct fixture *self = state;
  destroyed_host = self->host;
  free(state);
}

/* Returns 1 when every callback of the destroyed instance's table was harmless. */
ORCHION_EXPORT int fixture_call_host_after_destroy(void) {
  if (destroyed_host == NULL) return 0;
  destroyed_host->log(ORCHION_LOG_ERROR, "after destroy");
  destroyed_host->metric("after_destroy", 1);
  return destroyed_host->config("tag") == NULL && destroyed_host->clock_ns() > 0;
}

/* Mode 7: what a thread of the plugin's own saw. */
struct thread_report {
  const orchion_host_api *host;
  const char *tag;
  uint64_t clock;
};

static void *rogue_thread(void *argument) {
  struct thread_report *report = argument;
  report->host->log(ORCHION_LOG_INFO, "from a plugin thread");
  report->host->metric("from_thread", 1);
  report->tag = report->host->config("tag");
  report->clock = report->host->clock_ns();
  return NULL;
}

static orchion_status fixture_place(void *state, const orchion_cluster_view *cluster,
                                    const orchion_job_batch *batch,
                                    orchion_placement_batch *out, char *error,
                                    size_t error_size) {
  struct fixture *self = state;
  self->calls++;
  char line[128];
  snprintf(line, sizeof line, "place tag=%s", self->tag ? self->tag : "none");
  self->host->log(ORCHION_LOG_INFO, line);
  self->host->metric("calls", self->calls);
  if (FIXTURE_MODE == 3) {
    snprintf(error, error_size, "strategy state corrupted");
    return ORCHION_ERR_INTERNAL;
  }
  if (FIXTURE_MODE == 5) {
    struct timespec pause = {FIXTURE_SLEEP_MS / 1000, (FIXTURE_SLEEP_MS % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0) {}
  }
  if (FIXTURE_MODE == 11) {
    memset(error, 'x', error_size + 1);
    return ORCHION_ERR_INTERNAL;
  }
  if (FIXTURE_MODE == 9) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&lock);
    for (;;) pthread_cond_wait(&never, &lock);
  }
  if (FIXTURE_MODE == 6 && batch->job_count > 0 &&
      strncmp(ORCHION_AT(const orchion_job, batch->jobs, batch->job_size, 0)->id, "fail", 4) == 0) {
    snprintf(error, error_size, "asked to fail");
    return ORCHION_ERR_INTERNAL;
  }
  if (FIXTURE_MODE == 7) {
    struct thread_report report = {self->host, NULL, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, rogue_thread, &report) != 0) {
      snprintf(error, error_size, "pthread_create failed");
      return ORCHION_ERR_INTERNAL;
    }
    pthread_join(thread, NULL);
    snprintf(line, sizeof line, "thread saw tag=%s clock=%s", report.tag ? report.tag : "none",
             report.clock > 0 ? "yes" : "no");
    self->host->log(ORCHION_LOG_INFO, line);
  }
  if (FIXTURE_MODE == 8) {
    const char *list = self->host->config("gpus");
    for (size_t j = 0; j < batch->job_count && j < out->count; j++) {
      orchion_placement *answer = ORCHION_AT(orchion_placement, out->placements, out->placement_size, j);
      answer->node_index = 0;
      uint32_t named = 0;
      for (const char *p = list; p != NULL && *p != '\0';) {
        char *end;
        unsigned long index = strtoul(p, &end, 10);
        if (named < answer->gpu_capacity) answer->gpus[named] = (uint32_t)index;
        named++;
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p != '\0') break;
      }
      answer->gpu_count = named;
    }
    return ORCHION_OK;
  }
  orchion_resources *left = calloc(cluster->node_count + 1, sizeof *left);
  for (size_t n = 0; n < cluster->node_count; n++)
    left[n] = ORCHION_AT(const orchion_node, cluster->nodes, cluster->node_size, n)->free;
  for (size_t j = 0; j < batch->job_count; j++) {
    const orchion_job *job = ORCHION_AT(const orchion_job, batch->jobs, batch->job_size, j);
    orchion_placement *answer = ORCHION_AT(orchion_placement, out->placements, out->placement_size, j);
    answer->node_index = -1;
    if (FIXTURE_MODE == 1) { answer->node_index = (int64_t)cluster->node_count + 5; continue; }
    if (FIXTURE_MODE == 2) { answer->node_index = 0; continue; }
    if (FIXTURE_MODE == 4) { memset(answer->reason, 'x', sizeof answer->reason); continue; }
    for (size_t n = 0; n < cluster->node_count; n++) {
      const orchion_node *node = ORCHION_AT(const orchion_node, cluster->nodes, cluster->node_size, n);
      if (node->state == ORCHION_NODE_READY && node->gpu_count == 0 && job->arch == NULL &&
          job->constraint_count == 0 && job->gpu.count == 0 &&
          left[n].cpu_millis >= job->resources.cpu_millis &&
          left[n].memory_bytes >= job->resources.memory_bytes) {
        left[n].cpu_millis -= job->resources.cpu_millis;
        left[n].memory_bytes -= job->resources.memory_bytes;
        answer->node_index = (int64_t)n;
        break;
      }
    }
  }
  free(left);
  if (FIXTURE_MODE == 10) ORCHION_AT(orchion_placement, out->placements, out->placement_size, out->count)->node_index = 0;
  return ORCHION_OK;
}

static const orchion_scheduler_vtable vtable = {
    .struct_size = sizeof(orchion_scheduler_vtable),
    .init = fixture_init,
    .destroy = fixture_destroy,
    .place = fixture_place,
};

static const orchion_plugin_descriptor descriptor = {
    .struct_size = FIXTURE_SIZE,
    .abi_major = FIXTURE_MAJOR,
    .abi_minor = FIXTURE_MINOR,
    .kind = FIXTURE_KIND,
    .name = FIXTURE_NAME,
    .version = "0.0.1",
    .description = "test fixture",
    .vtable = &vtable,
};

#ifndef FIXTURE_NO_ENTRY
ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
#else
ORCHION_EXPORT const orchion_plugin_descriptor *not_the_entry(void) { return &descriptor; }
#endif
