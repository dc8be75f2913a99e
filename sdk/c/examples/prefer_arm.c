/*
 * prefer-arm: an example Orchion scheduler plugin in plain C.
 *
 * Places each job on an aarch64 node when one fits (choosing the one with the
 * least CPU left over, to keep big nodes free), and on any other node that
 * fits otherwise. Built with nothing but orchion/plugin.h:
 *
 *   cc -O2 -shared -fPIC -I../include -o orchion-prefer-arm.so prefer_arm.c
 *
 * Config keys: "arch" (default "aarch64") names the preferred architecture.
 *
 * Every array is indexed with the element size the host passes (ORCHION_AT),
 * never with sizeof. A GPU job's placement names no GPUs (gpu_count stays
 * 0), so the host picks the first free matching ones on the chosen node; the
 * Rust example beside this one shows how to name them.
 */
#include <orchion/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prefer_arm {
  const orchion_host_api *host;
  const char *arch;
  /* Per-batch scratch: what each node has left after this batch's jobs. */
  orchion_resources *left;
  size_t left_capacity;
};

static orchion_status prefer_arm_init(const orchion_host_api *host, void **state,
                                      char *error, size_t error_size) {
  struct prefer_arm *self = calloc(1, sizeof *self);
  if (self == NULL) {
    snprintf(error, error_size, "out of memory");
    return ORCHION_ERR_NOMEM;
  }
  self->host = host;
  self->arch = host->config("arch");
  if (self->arch == NULL) self->arch = "aarch64";
  char line[128];
  snprintf(line, sizeof line, "preferring %s nodes", self->arch);
  host->log(ORCHION_LOG_INFO, line);
  *state = self;
  return ORCHION_OK;
}

static void prefer_arm_destroy(void *state) {
  struct prefer_arm *self = state;
  free(self->left);
  free(self);
}

static int has_label(const orchion_node *node, const orchion_kv *wanted) {
  for (size_t i = 0; i < node->label_count; i++) {
    const orchion_kv *label = ORCHION_AT(const orchion_kv, node->labels, node->label_size, i);
    if (strcmp(label->key, wanted->key) == 0 && strcmp(label->value, wanted->value) == 0)
      return 1;
  }
  return 0;
}

static int fits(const orchion_node *node, const orchion_resources *left,
                const orchion_job *job) {
  if (node->state != ORCHION_NODE_READY) return 0;
  if (job->resources.cpu_millis > left->cpu_millis) return 0;
  if (job->resources.memory_bytes > left->memory_bytes) return 0;
  if (job->resources.gpus > left->gpus) return 0;
  /* This example does not read GPU models: it only places GPU jobs on nodes
   * whose GPUs all match by vendor when a vendor is asked for. */
  if (job->gpu.count > 0 && job->gpu.vendor != NULL) {
    for (size_t i = 0; i < node->gpu_count; i++)
      if (strcmp(ORCHION_AT(const orchion_gpu, node->gpus, node->gpu_size, i)->vendor,
                 job->gpu.vendor) != 0)
        return 0;
  }
  if (job->gpu.count > 0 && (job->gpu.model != NULL || job->gpu.min_memory_bytes > 0))
    return 0;
  if (job->arch != NULL && strcmp(job->arch, node->arch) != 0) return 0;
  for (size_t i = 0; i < job->constraint_count; i++)
    if (!has_label(node, ORCHION_AT(const orchion_kv, job->constraints, job->constraint_size, i)))
      return 0;
  return 1;
}

static orchion_status prefer_arm_place(void *state,
                                       const orchion_cluster_view *cluster,
                                       const orchion_job_batch *batch,
                                       orchion_placement_batch *out, char *error,
                                       size_t error_size) {
  struct prefer_arm *self = state;
  if (cluster->node_count > self->left_capacity) {
    orchion_resources *grown =
        realloc(self->left, cluster->node_count * sizeof *grown);
    if (grown == NULL) {
      snprintf(error, error_size, "out of memory for %zu nodes", cluster->node_count);
      return ORCHION_ERR_NOMEM;
    }
    self->left = grown;
    self->left_capacity = cluster->node_count;
  }
  for (size_t n = 0; n < cluster->node_count; n++)
    self->left[n] = ORCHION_AT(const orchion_node, cluster->nodes, cluster->node_size, n)->free;

  size_t placed = 0;
  for (size_t j = 0; j < batch->job_count && j < out->count; j++) {
    const orchion_job *job = ORCHION_AT(const orchion_job, batch->jobs, batch->job_size, j);
    orchion_placement *answer =
        ORCHION_AT(orchion_placement, out->placements, out->placement_size, j);
    long best = -1;
    int best_preferred = 0;
    uint64_t best_spare = 0;
    for (size_t n = 0; n < cluster->node_count; n++) {
      const orchion_node *node =
          ORCHION_AT(const orchion_node, cluster->nodes, cluster->node_size, n);
      if (!fits(node, &self->left[n], job)) continue;
      int preferred = strcmp(node->arch, self->arch) == 0;
      uint64_t spare = self->left[n].cpu_millis - job->resources.cpu_millis;
      if (best < 0 || preferred > best_preferred ||
          (preferred == best_preferred && spare < best_spare)) {
        best = (long)n;
        best_preferred = preferred;
        best_spare = spare;
      }
    }
    if (best < 0) {
      answer->node_index = -1;
      snprintf(answer->reason, sizeof answer->reason,
               "no ready node has %llu CPU millis and %llu bytes free",
               (unsigned long long)job->resources.cpu_millis,
               (unsigned long long)job->resources.memory_bytes);
      continue;
    }
    self->left[best].cpu_millis -= job->resources.cpu_millis;
    self->left[best].memory_bytes -= job->resources.memory_bytes;
    self->left[best].gpus -= job->resources.gpus;
    answer->node_index = best;
    placed++;
  }
  self->host->metric("placed", (double)placed);
  return ORCHION_OK;
}

static const orchion_scheduler_vtable vtable = {
    .struct_size = sizeof(orchion_scheduler_vtable),
    .init = prefer_arm_init,
    .destroy = prefer_arm_destroy,
    .place = prefer_arm_place,
};

static const orchion_plugin_descriptor descriptor = {
    .struct_size = sizeof(orchion_plugin_descriptor),
    .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
    .abi_minor = ORCHION_PLUGIN_ABI_MINOR,
    .kind = ORCHION_KIND_SCHEDULER,
    .name = "prefer-arm",
    .version = "1.0.0",
    .description = "Prefers aarch64 nodes (or config 'arch'); best CPU fit among them",
    .vtable = &vtable,
};

ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) {
  return &descriptor;
}
