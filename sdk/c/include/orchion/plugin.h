/*
 * orchion/plugin.h — the Orchion plugin ABI.
 *
 * This is the only header a plugin needs. A plugin is a shared object
 * (`cc -shared -fPIC`) that exports one function, `orchion_plugin_entry`,
 * returning a pointer to a constant descriptor. The descriptor names the
 * plugin and points at the vtable of its kind: a scheduler (places batches of
 * pending jobs onto nodes) or an executor (turns a job into a process launch
 * and classifies how that process ended).
 *
 * Compatibility rules (see docs/plugin-abi.md):
 *   - The host loads a plugin only when the plugin's ABI major equals the
 *     host's and the plugin's ABI minor is not greater than the host's.
 *   - Every struct that crosses the boundary starts with, or is described by,
 *     a size. Structs only ever grow at their end; a new field is marked with
 *     the minor it appeared in. A reader never touches bytes beyond the size
 *     it was given.
 *   - Arrays of structs are indexed with the element size the host passes
 *     (`node_size`, `job_size`, ...), never with sizeof on the plugin's side;
 *     use the ORCHION_AT() macro.
 *
 * Threading: every function of a plugin is called on the host's event-loop
 * thread, one call at a time. A plugin must not block: no disk, network or
 * sleeping in any callback. The host callbacks may only be called from inside
 * a call the host made into the plugin (on the same thread).
 *
 * Ownership: a pointer the host passes in is borrowed for the duration of the
 * call unless stated otherwise. A pointer the plugin returns stays owned by
 * the plugin; its lifetime is stated for each function.
 */
#ifndef ORCHION_PLUGIN_H
#define ORCHION_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI major version. Plugins built against another major are refused. */
#define ORCHION_PLUGIN_ABI_MAJOR 1
/** The ABI minor version. The host refuses plugins with a greater minor. */
#define ORCHION_PLUGIN_ABI_MINOR 0

/** The name of the one symbol every plugin exports. */
#define ORCHION_PLUGIN_ENTRY_SYMBOL "orchion_plugin_entry"

/** Indexes an array whose elements are `size` bytes apart. */
#define ORCHION_AT(type, base, size, index) \
  ((type *)((const char *)(base) + (size_t)(size) * (size_t)(index)))

/** Exports a symbol with default visibility, whatever -fvisibility says. */
#if defined(__GNUC__)
#define ORCHION_EXPORT __attribute__((visibility("default")))
#else
#define ORCHION_EXPORT
#endif

/** Status codes returned by plugin functions. */
typedef enum orchion_status {
  /** Success. */
  ORCHION_OK = 0,
  /** The input was not acceptable; the error buffer says why. */
  ORCHION_ERR_INVALID = 1,
  /** The plugin could not allocate memory. */
  ORCHION_ERR_NOMEM = 2,
  /** The request needs something this plugin does not support. */
  ORCHION_ERR_UNSUPPORTED = 3,
  /** Any other failure; the error buffer says what. */
  ORCHION_ERR_INTERNAL = 4
} orchion_status;

/** What a plugin is. */
typedef enum orchion_plugin_kind {
  /** Places pending jobs onto nodes; `vtable` is an orchion_scheduler_vtable. */
  ORCHION_KIND_SCHEDULER = 1,
  /** Turns jobs into launches; `vtable` is an orchion_executor_vtable. */
  ORCHION_KIND_EXECUTOR = 2
} orchion_plugin_kind;

/** Severity of a message passed to orchion_host_api.log. */
typedef enum orchion_log_level {
  ORCHION_LOG_DEBUG = 0,
  ORCHION_LOG_INFO = 1,
  ORCHION_LOG_WARN = 2,
  ORCHION_LOG_ERROR = 3
} orchion_log_level;

/**
 * The functions the host offers one plugin instance.
 *
 * Each instance gets its own table: the function pointers are bound to that
 * instance by the host, so what a plugin logs or measures is attributed to it
 * without any context argument. The table is owned by the host and stays
 * valid from `init` until `destroy` returns. Call the functions only on the
 * thread that called into the plugin.
 */
typedef struct orchion_host_api {
  /** sizeof(orchion_host_api) as the host knows it. Since 1.0. */
  uint32_t struct_size;
  /** The host's ABI minor. Since 1.0. */
  uint32_t abi_minor;
  /**
   * Writes a log line attributed to this instance. `message` is borrowed for
   * the call and must be NUL-terminated UTF-8. Since 1.0.
   */
  void (*log)(int32_t level, const char *message);
  /**
   * Records a gauge sample named `name` (NUL-terminated, [a-z0-9_]) for this
   * instance. Since 1.0.
   */
  void (*metric)(const char *name, double value);
  /** Monotonic time in nanoseconds. Since 1.0. */
  uint64_t (*clock_ns)(void);
  /**
   * Looks up this instance's configuration value for `key`. Returns NULL when
   * the key is not set. The returned string is owned by the host and valid
   * until `destroy` returns. Since 1.0.
   */
  const char *(*config)(const char *key);
} orchion_host_api;

/** A key/value pair: node labels, job constraints, environment variables. */
typedef struct orchion_kv {
  const char *key;
  const char *value;
} orchion_kv;

/** An amount of resources. */
typedef struct orchion_resources {
  /** CPU in thousandths of a core (1000 = one core). */
  uint64_t cpu_millis;
  /** Memory in bytes. */
  uint64_t memory_bytes;
  /** Whole GPUs. */
  uint32_t gpus;
  uint32_t reserved;
} orchion_resources;

/** One GPU of a node. */
typedef struct orchion_gpu {
  /** Lower-case vendor, e.g. "nvidia", "amd", "intel". Never NULL. */
  const char *vendor;
  /** Model name as the driver reports it, e.g. "NVIDIA H200". Never NULL. */
  const char *model;
  /** Device memory in bytes. */
  uint64_t memory_bytes;
  /** The device index on its node. */
  uint32_t index;
  /** Non-zero when a job holds this GPU. */
  uint32_t allocated;
} orchion_gpu;

/** Health of a node as the host sees it. Only READY nodes take new jobs. */
typedef enum orchion_node_state {
  ORCHION_NODE_READY = 0,
  ORCHION_NODE_DRAINING = 1,
  ORCHION_NODE_SUSPECT = 2,
  ORCHION_NODE_DOWN = 3
} orchion_node_state;

/** One node in the cluster view. */
typedef struct orchion_node {
  /** Stable node identifier. Never NULL. */
  const char *id;
  /** CPU architecture as `uname -m` names it ("x86_64", "aarch64"). */
  const char *arch;
  /** An orchion_node_state value. */
  int32_t state;
  uint32_t reserved;
  /** What the node offers to jobs in total. */
  orchion_resources capacity;
  /** What is not held by running or already-placed jobs. */
  orchion_resources free;
  /** The node's labels; `label_count` entries. */
  const orchion_kv *labels;
  size_t label_count;
  /** The node's GPUs; `gpu_count` entries of `orchion_gpu`. */
  const orchion_gpu *gpus;
  size_t gpu_count;
} orchion_node;

/**
 * The cluster as a scheduler sees it: a contiguous, read-only array of nodes.
 * Owned by the host and valid for the duration of one `place` call. The host
 * keeps it up to date incrementally, so a plugin must not cache pointers into
 * it across calls. Node order is arbitrary but stable between calls unless
 * nodes join or leave.
 */
typedef struct orchion_cluster_view {
  /** sizeof(orchion_cluster_view) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive nodes; index with ORCHION_AT. */
  uint32_t node_size;
  const orchion_node *nodes;
  size_t node_count;
} orchion_cluster_view;

/** What a job asks of a node's GPUs. */
typedef struct orchion_gpu_request {
  /** Number of GPUs; 0 means the job needs none. */
  uint32_t count;
  uint32_t reserved;
  /** Required vendor (lower-case), or NULL for any. */
  const char *vendor;
  /** Required substring of the model name (case-insensitive), or NULL. */
  const char *model;
  /** Minimum memory of each GPU in bytes; 0 for any. */
  uint64_t min_memory_bytes;
} orchion_gpu_request;

/** One pending job to place. */
typedef struct orchion_job {
  /** Job identifier. Never NULL. */
  const char *id;
  /** CPU, memory and GPU count the job needs. `resources.gpus` equals `gpu.count`. */
  orchion_resources resources;
  /** GPU requirements. */
  orchion_gpu_request gpu;
  /** Required architecture, or NULL for any. */
  const char *arch;
  /** Labels the node must carry with exactly these values. */
  const orchion_kv *constraints;
  size_t constraint_count;
  /** Higher runs first. The batch is already ordered by priority. */
  int32_t priority;
  uint32_t reserved;
} orchion_job;

/** A batch of pending jobs. Owned by the host, valid for one `place` call. */
typedef struct orchion_job_batch {
  /** sizeof(orchion_job_batch) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive jobs; index with ORCHION_AT. */
  uint32_t job_size;
  const orchion_job *jobs;
  size_t job_count;
} orchion_job_batch;

/** Longest reason a scheduler may write, including the NUL. */
#define ORCHION_REASON_MAX 160

/** The scheduler's answer for one job. */
typedef struct orchion_placement {
  /**
   * Index into the cluster view's nodes, or -1 when the job cannot be placed
   * now (then `reason` says why).
   */
  int64_t node_index;
  /** NUL-terminated reason when node_index is -1; ignored otherwise. */
  char reason[ORCHION_REASON_MAX];
} orchion_placement;

/** The answers for a batch: one placement per job, in the batch's order. */
typedef struct orchion_placement_batch {
  /** sizeof(orchion_placement_batch) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive placements; index with ORCHION_AT. */
  uint32_t placement_size;
  /** Host-owned; `count` entries, preset to node_index -1 and an empty reason. */
  orchion_placement *placements;
  size_t count;
} orchion_placement_batch;

/**
 * Creates an instance. Called once per instance on the loop thread.
 * `host` stays valid until `destroy` returns. On success the plugin stores its
 * private state in `*state` (may be NULL) and returns ORCHION_OK. On failure it
 * writes a NUL-terminated message of at most `error_size` bytes to `error`,
 * which the host reports verbatim, and returns another status.
 */
typedef orchion_status (*orchion_init_fn)(const orchion_host_api *host,
                                          void **state, char *error,
                                          size_t error_size);

/** Destroys an instance; `state` is what init stored. Called once. */
typedef void (*orchion_destroy_fn)(void *state);

/** The functions of a scheduler plugin. Since 1.0. */
typedef struct orchion_scheduler_vtable {
  /** sizeof(orchion_scheduler_vtable) as the plugin knows it. */
  uint32_t struct_size;
  uint32_t reserved;
  /** Required. */
  orchion_init_fn init;
  /** Required. */
  orchion_destroy_fn destroy;
  /**
   * Places a batch of jobs. Required.
   *
   * The plugin writes one placement per job into `out`, in batch order. Jobs
   * placed earlier in the same batch consume resources: the plugin accounts
   * for them itself (the view does not change during the call). The host
   * checks every placement before it acts on it: a placement onto a missing,
   * unready or too-small node, or one that breaks a constraint, is rejected
   * and counted against the plugin. Returns ORCHION_OK, or another status
   * with a message in `error` when the whole batch failed.
   */
  orchion_status (*place)(void *state, const orchion_cluster_view *cluster,
                          const orchion_job_batch *batch,
                          orchion_placement_batch *out, char *error,
                          size_t error_size);
} orchion_scheduler_vtable;

/** A job as an executor sees it. Owned by the host, valid for the call. */
typedef struct orchion_exec_job {
  /** sizeof(orchion_exec_job) as the host knows it. */
  uint32_t struct_size;
  uint32_t reserved;
  const char *id;
  /** A shell command line, or NULL when `argv` is given. */
  const char *command;
  /** The program and its arguments (`argc` entries), or NULL. */
  const char *const *argv;
  size_t argc;
  /** Extra environment variables. */
  const orchion_kv *env;
  size_t env_count;
  /** Working directory, or NULL for the agent's work directory. */
  const char *cwd;
  /** User to run as, or NULL for the agent's user. */
  const char *user;
  /** Wall-clock limit in milliseconds; 0 for none. */
  uint64_t timeout_ms;
  /** What the job was granted. */
  orchion_resources resources;
} orchion_exec_job;

/**
 * How to start a job's process. Filled by the executor, owned by it, and
 * valid until the host calls `release` with it.
 */
typedef struct orchion_launch {
  /** sizeof(orchion_launch) as the host knows it; set by the host. */
  uint32_t struct_size;
  uint32_t reserved;
  /** The file to execute (looked up in PATH when it has no slash). */
  const char *file;
  /** argv, NULL-terminated, `argv[0]` included. */
  const char *const *argv;
  /** The full environment as "KEY=value" strings, NULL-terminated. */
  const char *const *env;
  /** Working directory, or NULL to inherit. */
  const char *cwd;
  /** User to run as, or NULL to keep the agent's. */
  const char *user;
  /** Kill the process group after this many milliseconds; 0 for never. */
  uint64_t timeout_ms;
  /** Address-space limit for the process (RLIMIT_AS) in bytes; 0 for none. */
  uint64_t memory_limit_bytes;
  /** For the plugin's own bookkeeping (e.g. what `release` frees); the host never reads it. */
  void *plugin_data;
} orchion_launch;

/** How a job's process ended, as the host observed it. */
typedef struct orchion_exit {
  /** Exit code, when `signal` is 0. */
  int64_t exit_code;
  /** The signal that ended the process, or 0. */
  int32_t signal;
  /** Non-zero when the host killed it for running past its timeout. */
  int32_t timed_out;
} orchion_exit;

/** The verdict of an executor on a finished process. */
typedef enum orchion_exit_class {
  /** The job did what it was asked. */
  ORCHION_EXIT_SUCCEEDED = 0,
  /** The job failed; retrying will not help. */
  ORCHION_EXIT_FAILED = 1,
  /** The job failed in a way worth retrying (per the job's retry policy). */
  ORCHION_EXIT_RETRYABLE = 2
} orchion_exit_class;

/** The functions of an executor plugin. Since 1.0. */
typedef struct orchion_executor_vtable {
  /** sizeof(orchion_executor_vtable) as the plugin knows it. */
  uint32_t struct_size;
  uint32_t reserved;
  /** Required. */
  orchion_init_fn init;
  /** Required. */
  orchion_destroy_fn destroy;
  /**
   * Describes how to start `job`. Required. On ORCHION_OK the plugin has
   * filled `launch` (leaving struct_size as the host set it) and the host
   * calls `release` once it has copied what it needs. On failure `error`
   * says why and `release` is not called.
   */
  orchion_status (*prepare)(void *state, const orchion_exec_job *job,
                            orchion_launch *launch, char *error,
                            size_t error_size);
  /** Frees what `prepare` allocated for `launch`. Required. */
  void (*release)(void *state, orchion_launch *launch);
  /**
   * Classifies how a job's process ended and writes a short human reason
   * (NUL-terminated, at most `reason_size` bytes) into `reason`. Required.
   * Returns an orchion_exit_class value.
   */
  int32_t (*classify)(void *state, const orchion_exec_job *job,
                      const orchion_exit *exit, char *reason,
                      size_t reason_size);
} orchion_executor_vtable;

/**
 * What `orchion_plugin_entry` returns. Constant, owned by the plugin, valid
 * for as long as the shared object is loaded. The host reads it without
 * calling init (for `orchion plugin list` and `inspect`).
 */
typedef struct orchion_plugin_descriptor {
  /** sizeof(orchion_plugin_descriptor) as the plugin knows it. */
  uint32_t struct_size;
  /** ORCHION_PLUGIN_ABI_MAJOR the plugin was built against. */
  uint16_t abi_major;
  /** ORCHION_PLUGIN_ABI_MINOR the plugin was built against. */
  uint16_t abi_minor;
  /** An orchion_plugin_kind value. */
  int32_t kind;
  uint32_t reserved;
  /** Unique name: 1–63 characters of [a-z0-9-]. */
  const char *name;
  /** The plugin's own version, e.g. "1.2.0". */
  const char *version;
  /** One line for humans. */
  const char *description;
  /** Points at the vtable of `kind`. */
  const void *vtable;
} orchion_plugin_descriptor;

/** The type of the entry symbol. */
typedef const orchion_plugin_descriptor *(*orchion_plugin_entry_fn)(void);

/*
 * Declares the entry function; define it in exactly one file of a plugin.
 * (Hidden from Swift, whose plugins define it with @_cdecl.)
 */
#ifndef __swift__
ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* ORCHION_PLUGIN_H */
