// A scheduler plugin in C++, declared the way orchion/plugin.h says: the
// header gives every declaration C linkage, so the entry defined below is
// exported unmangled. It leaves every job unplaced, with a reason.
#include <orchion/plugin.h>

#include <cstdio>

namespace {

orchion_status init(const orchion_host_api *, void **state, char *, size_t) noexcept {
  *state = nullptr;
  return ORCHION_OK;
}

void destroy(void *) noexcept {}

orchion_status place(void *, const orchion_cluster_view *, const orchion_job_batch *batch,
                     orchion_placement_batch *out, char *, size_t) noexcept {
  for (size_t j = 0; j < batch->job_count && j < out->count; j++) {
    orchion_placement *answer = ORCHION_AT(orchion_placement, out->placements, out->placement_size, j);
    answer->node_index = -1;
    std::snprintf(answer->reason, sizeof answer->reason, "declined by C++");
  }
  return ORCHION_OK;
}

const orchion_scheduler_vtable vtable = {sizeof(orchion_scheduler_vtable), 0, init, destroy, place};

const orchion_plugin_descriptor descriptor = {
    sizeof(orchion_plugin_descriptor), ORCHION_PLUGIN_ABI_MAJOR, ORCHION_PLUGIN_ABI_MINOR,
    ORCHION_KIND_SCHEDULER, 0, "cpp-decline", "1.0.0", "declines every job", &vtable};

}  // namespace

ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }
